/**
 * Argon2id password hashing (PHC strings, salt included) with
 * `@node-rs/argon2`, which runs on libuv's thread pool and keeps the event
 * loop free. Parameters default to OWASP's Argon2id baseline (19 MiB, two
 * passes, one lane); tests pass cheaper ones.
 */
import { hash, verify, type Options } from '@node-rs/argon2';

/**
 * `Algorithm.Argon2id` of @node-rs/argon2. Its `Algorithm` is an ambient const
 * enum, which `verbatimModuleSyntax` forbids reading, so the value is spelled out.
 */
const ARGON2ID = 2 as NonNullable<Options['algorithm']>;

/** Argon2id cost parameters. */
export interface PasswordHasherOptions {
  /** KiB of memory per hash. Default 19_456. */
  readonly memoryCostKiB?: number;
  /** Passes. Default 2. */
  readonly timeCost?: number;
  /** Lanes. Default 1. */
  readonly parallelism?: number;
}

/** Longest password accepted: hashing cost grows with input, so it is bounded. */
export const MAX_PASSWORD_CHARS = 256;

/** Hashes and verifies passwords. */
export class PasswordHasher {
  readonly #options: Options;
  #dummy: Promise<string> | undefined;

  constructor(opts: PasswordHasherOptions = {}) {
    this.#options = {
      algorithm: ARGON2ID,
      memoryCost: opts.memoryCostKiB ?? 19_456,
      timeCost: opts.timeCost ?? 2,
      parallelism: opts.parallelism ?? 1,
    };
  }

  /** @returns the PHC string (`$argon2id$v=19$m=…`) to store. */
  hash(password: string): Promise<string> {
    return hash(password, this.#options);
  }

  /**
   * Whether `password` matches `phc`. Pass `null` for an unknown account: a dummy hash is verified so the
   * answer takes as long as for a real one (no user enumeration by timing).
   * @throws Error when the stored value is not a PHC string (corrupt data: a bug, not a wrong password).
   */
  async verify(phc: string | null, password: string): Promise<boolean> {
    if (phc === null) {
      this.#dummy ??= this.hash('loom-dummy-password');
      await verify(await this.#dummy, password);
      return false;
    }
    return verify(phc, password);
  }
}

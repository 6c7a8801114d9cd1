/**
 * Endpoint signing secrets: generated as `whsec_<base64 of 24 random bytes>`
 * (the Standard Webhooks form, which receivers' libraries take as is), and
 * sealed at rest with AES-256-GCM under LOOM_WEBHOOK_SECRET_KEY. Without a
 * key they are stored as they are (`plain:`), readable once a key is set,
 * since the dispatcher must be able to sign with them: they cannot be hashed.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
const SEALED = 'v1:';
const PLAIN = 'plain:';

/** A fresh secret, shown to its owner once. */
export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(24).toString('base64')}`;
}

/** The HMAC key a secret stands for (the bytes after `whsec_`). */
export function secretKeyBytes(secret: string): Buffer {
  return Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
}

export class SecretBox {
  readonly #key: Buffer | undefined;

  /** @param keyBase64 32 bytes in base64, or undefined to store secrets unsealed. */
  constructor(keyBase64: string | undefined) {
    this.#key = keyBase64 === undefined ? undefined : Buffer.from(keyBase64, 'base64');
  }

  get sealing(): boolean {
    return this.#key !== undefined;
  }

  seal(secret: string): string {
    if (this.#key === undefined) return `${PLAIN}${secret}`;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return `${SEALED}${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  /** @throws Error when a sealed secret meets no key or the wrong one. */
  open(stored: string): string {
    if (stored.startsWith(PLAIN)) return stored.slice(PLAIN.length);
    if (!stored.startsWith(SEALED)) throw new Error('webhook secret: unknown storage format');
    if (this.#key === undefined) throw new Error('webhook secret is sealed but LOOM_WEBHOOK_SECRET_KEY is not set');
    const raw = Buffer.from(stored.slice(SEALED.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}

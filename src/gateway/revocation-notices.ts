/**
 * Revocation reaches open sockets on every gateway. The accounts module says
 * when it revoked an API key or ended sessions; this publishes that on
 * `sys.auth.revoked` (protocol/revocation.ts), and every gateway, this one
 * included, follows the subject, re-reads each named credential from the
 * accounts store and closes the sockets of those really revoked with 4401.
 * Notices are handled one at a time, in arrival order. Core NATS delivers at
 * most once, so a slow sweep re-reads every open socket's credential as
 * well: a notice missed during a NATS reconnect delays a close, never loses it.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { CLOSE_CODES, type CloseCode } from '../../protocol/errors.ts';
import { decodeCredentialRevoked, encodeCredentialRevoked, type CredentialRevoked } from '../../protocol/revocation.ts';
import { CREDENTIAL_REVOKED_SUBJECT } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { fromNatsHeaders } from '../nats/headers.ts';
import { isNamedBy, type CredentialStatus, type SocketCredential } from './socket-credential.ts';

/** How often every open socket's credential is re-read, in case a notice was missed. */
export const REVOCATION_SWEEP_MS = 60_000;

/** A socket as revocation sees it. */
export interface RevocableSocket {
  readonly connId: string;
  readonly credential: SocketCredential | undefined;
  close(code: CloseCode, reason: string): void;
}

export class RevocationNotices {
  #sub: Subscription | undefined;
  #loop: Promise<void> | undefined;
  #sweep: NodeJS.Timeout | undefined;
  /** Notice handling and sweeps run one after another, never interleaved. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: {
      nc: NatsConnection;
      status: CredentialStatus;
      /** The open sockets of every endpoint of this gateway, at the time of the call. */
      sockets: () => Iterable<RevocableSocket>;
      log: Logger;
      /** Told of each notice as it arrives, before its sockets are looked at (the auth module forgets the sessions it names). */
      onNotice?: (notice: CredentialRevoked) => void;
      /** Default REVOCATION_SWEEP_MS. */
      sweepIntervalMs?: number;
    },
  ) {}

  /** Tells every gateway (this one included) that a credential was revoked. */
  publish(notice: CredentialRevoked): void {
    try {
      this.deps.nc.publish(CREDENTIAL_REVOKED_SUBJECT, encodeCredentialRevoked(notice));
    } catch (err) {
      // The revocation itself is stored and HTTP already refuses the credential; the sweep closes the sockets later.
      this.deps.log.error({ err, kind: notice.kind, userId: notice.userId }, 'publishing a revocation notice failed');
    }
  }

  /** Follows the notices and starts the sweep; resolves once the server has the subscription. */
  async start(): Promise<void> {
    const sub = this.deps.nc.subscribe(CREDENTIAL_REVOKED_SUBJECT);
    this.#sub = sub;
    this.#loop = (async () => {
      for await (const msg of sub) {
        let notice: CredentialRevoked;
        try {
          notice = decodeCredentialRevoked(msg.data, fromNatsHeaders(msg.headers));
        } catch (err) {
          this.deps.log.warn({ err }, 'ignoring malformed revocation notice');
          continue;
        }
        this.deps.onNotice?.(notice);
        await this.#serially(() => this.closeRevoked(notice), { kind: notice.kind, userId: notice.userId });
      }
    })().catch((err: unknown) => {
      // A refused subscription (NATS permissions) ends the loop; the sweep still closes revoked sockets.
      this.deps.log.error({ err, subject: CREDENTIAL_REVOKED_SUBJECT }, 'revocation notices stopped');
    });
    this.#sweep = setInterval(() => void this.#serially(() => this.sweep(), { kind: 'sweep' }), this.deps.sweepIntervalMs ?? REVOCATION_SWEEP_MS);
    this.#sweep.unref();
    await this.deps.nc.flush();
  }

  /**
   * Closes the sockets a notice names whose credential the store confirms
   * revoked (one look-up per distinct credential). @returns how many were closed.
   */
  closeRevoked(notice: CredentialRevoked): Promise<number> {
    return this.#closeConfirmed((c) => isNamedBy(c, notice));
  }

  /** Re-reads the credential of every open socket and closes those revoked. @returns how many were closed. */
  sweep(): Promise<number> {
    return this.#closeConfirmed((c) => c.keyId !== undefined || c.sessionId !== undefined);
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweep);
    this.#sub?.unsubscribe();
    await this.#loop;
    await this.#queue;
  }

  #serially(work: () => Promise<number>, context: Record<string, string>): Promise<void> {
    const next = this.#queue.then(work).then(
      () => undefined,
      (err: unknown) => this.deps.log.error({ err, ...context }, 'closing revoked sockets failed'),
    );
    this.#queue = next;
    return next;
  }

  async #closeConfirmed(candidate: (c: SocketCredential) => boolean): Promise<number> {
    const groups = new Map<string, RevocableSocket[]>();
    for (const socket of this.deps.sockets()) {
      const c = socket.credential;
      if (c === undefined || !candidate(c)) continue;
      const key = c.keyId !== undefined ? `key:${c.keyId}` : `session:${c.sessionId ?? ''}`;
      groups.set(key, [...(groups.get(key) ?? []), socket]);
    }
    let closed = 0;
    for (const sockets of groups.values()) {
      const credential = sockets[0]?.credential;
      if (credential === undefined || !(await this.deps.status.isRevoked(credential))) continue;
      const reason = credential.keyId !== undefined ? 'the API key was revoked' : 'the session was signed out';
      for (const socket of sockets) {
        this.deps.log.info({ connId: socket.connId, userId: credential.userId }, 'closing socket of a revoked credential');
        socket.close(CLOSE_CODES.unauthorized, reason);
        closed++;
      }
    }
    return closed;
  }
}

/**
 * Revocation reaches open sockets on every gateway. The accounts module says
 * when it revoked an API key or ended sessions; this publishes that on
 * `sys.auth.revoked` (protocol/revocation.ts), and every gateway, this one
 * included, follows the subject, re-reads each named credential from the
 * accounts store and closes the sockets of those really revoked with 4401.
 * Notices are handled one at a time, in arrival order.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { CLOSE_CODES, type CloseCode } from '../../protocol/errors.ts';
import { decodeCredentialRevoked, encodeCredentialRevoked, type CredentialRevoked } from '../../protocol/revocation.ts';
import { CREDENTIAL_REVOKED_SUBJECT } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { fromNatsHeaders } from '../nats/headers.ts';
import { isNamedBy, type CredentialStatus, type SocketCredential } from './socket-credential.ts';

/** A socket as revocation sees it. */
export interface RevocableSocket {
  readonly connId: string;
  readonly credential: SocketCredential | undefined;
  close(code: CloseCode, reason: string): void;
}

export class RevocationNotices {
  #sub: Subscription | undefined;
  #loop: Promise<void> | undefined;

  constructor(
    private readonly deps: {
      nc: NatsConnection;
      status: CredentialStatus;
      /** The open sockets of every endpoint of this gateway, at the time of the call. */
      sockets: () => Iterable<RevocableSocket>;
      log: Logger;
    },
  ) {}

  /** Tells every gateway (this one included) that a credential was revoked. */
  publish(notice: CredentialRevoked): void {
    try {
      this.deps.nc.publish(CREDENTIAL_REVOKED_SUBJECT, encodeCredentialRevoked(notice));
    } catch (err) {
      // The revocation itself is stored and HTTP already refuses the credential; only open sockets wait for their expiry.
      this.deps.log.error({ err, kind: notice.kind, userId: notice.userId }, 'publishing a revocation notice failed');
    }
  }

  /** Follows the notices; resolves once the server has the subscription. */
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
        try {
          await this.closeRevoked(notice);
        } catch (err) {
          this.deps.log.error({ err, kind: notice.kind, userId: notice.userId }, 'closing revoked sockets failed');
        }
      }
    })().catch((err: unknown) => {
      // A refused subscription (NATS permissions) ends the loop; sockets still close when their tokens expire.
      this.deps.log.error({ err, subject: CREDENTIAL_REVOKED_SUBJECT }, 'revocation notices stopped');
    });
    await this.deps.nc.flush();
  }

  /**
   * Closes the sockets a notice names whose credential the store confirms
   * revoked (one look-up per distinct credential). @returns how many were closed.
   */
  async closeRevoked(notice: CredentialRevoked): Promise<number> {
    const named = new Map<string, RevocableSocket[]>();
    for (const socket of this.deps.sockets()) {
      const c = socket.credential;
      if (c === undefined || !isNamedBy(c, notice)) continue;
      const key = c.keyId !== undefined ? `key:${c.keyId}` : `session:${c.sessionId ?? ''}`;
      named.set(key, [...(named.get(key) ?? []), socket]);
    }
    let closed = 0;
    for (const sockets of named.values()) {
      const credential = sockets[0]?.credential;
      if (credential === undefined || !(await this.deps.status.isRevoked(credential))) continue;
      const reason = credential.keyId !== undefined ? 'the API key was revoked' : 'the session was signed out';
      for (const socket of sockets) {
        this.deps.log.info({ connId: socket.connId, userId: credential.userId, kind: notice.kind }, 'closing socket of a revoked credential');
        socket.close(CLOSE_CODES.unauthorized, reason);
        closed++;
      }
    }
    return closed;
  }

  async stop(): Promise<void> {
    this.#sub?.unsubscribe();
    await this.#loop;
  }
}

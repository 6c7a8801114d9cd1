/**
 * One client on the multiplexed `/ws` socket: validates every frame,
 * subscribes it to the job and agent-session channels it asks for (owner
 * only; others get an error frame as for one that does not exist) and relays
 * their events, token deltas and (sessions) status changes, resumable by
 * sequence exactly like SSE. Bad
 * frames close this socket with a code from protocol/errors.ts; a client
 * too slow to read is closed as a slow consumer rather than buffered.
 */
import type { RawData, WebSocket } from 'ws';
import type { Principal } from '../auth/principal.ts';
import { CLOSE_CODES, ProtocolError } from '../../protocol/errors.ts';
import type { ActorId } from '../../protocol/ids.ts';
import { decodeSocketClientFrame, MAX_SOCKET_CHANNELS, parseSocketChannel, SocketFrameError, type SocketServerFrame } from '../../protocol/socket.ts';
import { followAgentEvents, type AgentEventFeedDeps, type AgentLogReader, type AgentSessionOwners } from '../agent-sessions/index.ts';
import type { FeedEnd } from '../events/index.ts';
import type { RateLimiter } from '../auth/rate-limiter.ts';
import { followJobEvents, type JobEventFeedDeps } from '../jobs/job-event-feed.ts';
import type { JobOwners } from '../jobs/job-owner.ts';
import type { Logger } from '../log.ts';
import { GatewaySocket } from './gateway-socket.ts';
import { credentialOf } from './socket-credential.ts';

export interface JobSocketConnectionDeps {
  /** Whose jobs they are (one log read per job, then remembered). */
  readonly jobOwners: Pick<JobOwners, 'of'>;
  readonly feed: JobEventFeedDeps;
  /** Agent-session logs and feed; without them `agent:<id>` channels are refused. */
  readonly agents?: { readonly log: AgentLogReader; readonly owners: AgentSessionOwners; readonly feed: Omit<AgentEventFeedDeps, 'log'> } | undefined;
  readonly maxBufferedBytes: number;
  readonly messageLimiter: RateLimiter | undefined;
  readonly log: Logger;
}

export class JobSocketConnection extends GatewaySocket {
  private readonly channels = new Map<string, AbortController>();

  constructor(
    connId: string,
    ws: WebSocket,
    private readonly principal: Principal,
    private readonly deps: JobSocketConnectionDeps,
  ) {
    super(connId, ws, { ...deps, credential: credentialOf(principal), endpoint: 'ws' });
  }

  start(): void {
    this.listen((data, isBinary) => {
      if (isBinary) return this.close(CLOSE_CODES.unsupportedData, 'binary frames are not supported; send JSON text');
      this.dispatch(toText(data));
    });
  }

  private dispatch(text: string): void {
    if (this.closed) return;
    let frame;
    try {
      frame = decodeSocketClientFrame(text);
    } catch (err) {
      const e = err as SocketFrameError;
      this.close(e.reason === 'unknown-type' ? CLOSE_CODES.unknownMessageType : CLOSE_CODES.malformedFrame, e.message);
      return;
    }
    switch (frame.type) {
      case 'ping':
        this.send({ type: 'pong' });
        return;
      case 'unsubscribe': {
        const abort = this.channels.get(frame.channel);
        this.channels.delete(frame.channel);
        abort?.abort();
        this.send({ type: 'unsubscribed', channel: frame.channel });
        return;
      }
      case 'subscribe':
        void this.subscribe(frame.channel, frame.lastEventId ?? 0);
        return;
      default: {
        const never: never = frame;
        throw new Error(`unhandled frame ${JSON.stringify(never)}`);
      }
    }
  }

  private async subscribe(channel: string, afterSeq: number): Promise<void> {
    if (this.channels.has(channel)) return this.send({ type: 'subscribed', channel });
    if (this.channels.size >= MAX_SOCKET_CHANNELS) {
      return this.send({ type: 'error', channel, code: 'too-many-channels', message: `at most ${MAX_SOCKET_CHANNELS} channels per socket` });
    }
    const abort = new AbortController();
    this.channels.set(channel, abort);
    try {
      let target: { kind: 'job' | 'agent'; id: ActorId };
      try {
        target = parseSocketChannel(channel);
      } catch (err) {
        throw err instanceof ProtocolError ? err : new ProtocolError('invalid-subject', (err as Error).message);
      }
      const agents = target.kind === 'agent' ? this.deps.agents : undefined;
      if (target.kind === 'agent' && agents === undefined) throw new ProtocolError('invalid-subject', 'agent channels are not served by this gateway');
      const owner = agents === undefined ? await this.deps.jobOwners.of(target.id, abort.signal) : await agents.owners.of(target.id, abort.signal);
      if (owner === null || owner !== this.principal.userId) throw new ProtocolError('not-found', `${target.kind === 'job' ? 'job' : 'agent session'} ${target.id} does not exist`);
      if (abort.signal.aborted) return;
      // Acknowledged before the replay starts, so `subscribed` precedes the channel's events.
      this.send({ type: 'subscribed', channel });
      const onEnd = (why: FeedEnd | 'job-ended', err?: unknown) => {
        if (why === 'closed') return;
        if (why === 'error') this.deps.log.warn({ err, channel }, 'following events failed');
        if (this.channels.get(channel) === abort) this.channels.delete(channel);
        this.send({ type: 'end', channel, reason: why === 'ended' ? 'job-ended' : why });
      };
      if (agents !== undefined) {
        await followAgentEvents({ ...agents.feed, log: agents.log }, target.id, {
          afterSeq,
          signal: abort.signal,
          onItem: (item) => {
            if (item.kind === 'event') this.send({ type: 'event', channel, id: String(item.seq), event: item.event.type, data: item.event });
            else if (item.data.type === 'token') this.send({ type: 'token', channel, data: item.data.token });
            else this.send({ type: 'status', channel, data: item.data.status });
          },
          onEnd,
        });
        return;
      }
      await followJobEvents(this.deps.feed, target.id, {
        afterSeq,
        signal: abort.signal,
        onItem: (item) => {
          if (item.kind === 'event') this.send({ type: 'event', channel, id: String(item.seq), event: item.event.type, data: item.event });
          else this.send({ type: 'token', channel, data: item.token });
        },
        onEnd,
      });
    } catch (err) {
      if (this.channels.get(channel) === abort) this.channels.delete(channel);
      abort.abort();
      if (err instanceof ProtocolError) {
        this.send({ type: 'error', channel, code: err.code, message: err.message });
      } else {
        this.deps.log.error({ err, channel }, 'subscribing to a channel failed');
        this.send({ type: 'error', channel, code: 'unavailable', message: 'could not follow this channel; retry' });
      }
    }
  }

  /** Sends a frame unless the socket is backed up (then it is closed as a slow consumer). */
  send(frame: SocketServerFrame): void {
    if (!this.closed) this.transmit(JSON.stringify(frame));
  }

  protected onClosed(): void {
    for (const abort of this.channels.values()) abort.abort();
    this.channels.clear();
  }
}

function toText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/**
 * A command handed to an actor's mailbox by a caller in the same process
 * (the fast path of local-actors.ts). Answered at most once, like a NATS
 * command; the answer resolves `reply` instead of crossing the wire.
 */
import type { CommandMessage } from '../../actors/actor.ts';
import type { HeaderMap } from '../../protocol/headers.ts';
import type { WireMessage } from '../../protocol/reply.ts';

export class LocalCommand implements CommandMessage {
  readonly source = 'command';
  readonly expectsReply = true;
  answered = false;
  /** Resolves with the actor's answer (success or error reply); never rejects. */
  readonly reply: Promise<WireMessage>;
  private resolve!: (reply: WireMessage) => void;

  /** @param fit held to the same size limit as a NATS reply, so the answer does not depend on where the actor lives */
  constructor(
    readonly name: string,
    readonly headers: HeaderMap,
    readonly body: Uint8Array,
    private readonly fit: (reply: WireMessage) => WireMessage = (reply) => reply,
  ) {
    this.reply = new Promise<WireMessage>((resolve) => {
      this.resolve = resolve;
    });
  }

  respond(reply: WireMessage): void {
    if (this.answered) return;
    this.answered = true;
    this.resolve(this.fit(reply));
  }
}

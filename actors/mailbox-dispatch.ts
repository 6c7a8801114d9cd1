/**
 * What every event-sourced actor's shell does the same way: route a
 * mailbox batch to its handlers in arrival order (refusals answered with
 * their code, step-downs passed up to the host), and append an event to its
 * log with the fencing check, stepping down when that fails.
 */
import { ProtocolError } from '../protocol/errors.ts';
import { errorReply } from '../protocol/reply.ts';
import { StepDownError, type CommandMessage, type MailboxMessage, type SignalMessage, type TimerMessage } from './actor.ts';

export interface MailboxHandlers {
  onCommand(command: CommandMessage): Promise<void>;
  onTimer(timer: TimerMessage): Promise<void>;
  /** Default: host signals are ignored (the kind keeps no per-gateway state). */
  onSignal?(signal: SignalMessage): Promise<void>;
}

/**
 * Handles a batch in order. A ProtocolError from a command is its reply; a
 * StepDownError or any other error ends the batch (the host drops the activation).
 */
export async function dispatchInOrder(batch: readonly MailboxMessage[], handlers: MailboxHandlers): Promise<void> {
  for (const message of batch) {
    if (message.source === 'signal') {
      await handlers.onSignal?.(message);
      continue;
    }
    if (message.source === 'timer') {
      await handlers.onTimer(message);
      continue;
    }
    try {
      await handlers.onCommand(message);
    } catch (err) {
      if (err instanceof StepDownError) throw err;
      if (err instanceof ProtocolError) message.respond(errorReply(err.code, err.message));
      else throw err;
    }
  }
}

/**
 * Appends one event; `isFenced` recognises the log's fencing error.
 * @returns the event's sequence.
 * @throws StepDownError when another owner wrote first, or when the append's outcome is unknown (the next activation rebuilds from the log).
 */
export async function appendOrStepDown(append: () => Promise<number>, isFenced: (err: unknown) => boolean, what: string): Promise<number> {
  try {
    return await append();
  } catch (err) {
    throw new StepDownError(isFenced(err) ? `fenced out of the ${what}` : `append to the ${what} failed`, { cause: err });
  }
}

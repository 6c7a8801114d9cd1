/**
 * Closing a gateway socket so that the TCP connection really ends. ws sends
 * the close frame at once but keeps the connection until the peer answers
 * with its own close frame, for up to 30 s: a paused socket never reads that
 * answer, and a hostile or broken client never sends it. Refused and closed
 * sockets would linger and hold their slot. So the socket is resumed, and
 * terminated if the handshake has not finished shortly after the close frame
 * went out. A close frame queued behind unsent data (a slow consumer) starts
 * that clock only once the data has drained; ws's own 30 s timeout bounds the
 * wait for a client that never reads again.
 */
import { WebSocket } from 'ws';
import { closeReason, type CloseCode } from '../../protocol/errors.ts';

/** How long the peer has to answer a close frame before the connection is cut. */
export const CLOSE_HANDSHAKE_TIMEOUT_MS = 1_000;
/** How often a backed-up socket is checked for having sent its close frame. */
const DRAIN_POLL_MS = 100;

/** Sends a close frame (reason trimmed to fit) and ends the connection within CLOSE_HANDSHAKE_TIMEOUT_MS of sending it. */
export function closeSocket(ws: WebSocket, code: CloseCode, reason: string): void {
  if (ws.readyState === WebSocket.CLOSED) return;
  // A paused socket would never read the peer's close frame.
  if (ws.isPaused) ws.resume();
  ws.close(code, closeReason(reason));
  let timer: NodeJS.Timeout | undefined;
  const armDeadline = () => {
    timer = setTimeout(() => ws.terminate(), CLOSE_HANDSHAKE_TIMEOUT_MS);
    timer.unref();
  };
  if (ws.bufferedAmount === 0) {
    armDeadline();
  } else {
    timer = setInterval(() => {
      if (ws.bufferedAmount > 0) return;
      clearInterval(timer);
      armDeadline();
    }, DRAIN_POLL_MS);
    timer.unref();
  }
  // clearTimeout also clears an interval.
  ws.once('close', () => clearTimeout(timer));
}

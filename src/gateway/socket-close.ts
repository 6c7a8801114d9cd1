/**
 * Closing a gateway socket so that the TCP connection really ends. ws sends
 * the close frame at once but keeps the connection until the peer answers
 * with its own close frame, for up to 30 s: a paused socket never reads that
 * answer, and a hostile or broken client never sends it. Refused and closed
 * sockets would linger and hold their slot. So the socket is resumed, and
 * terminated if the handshake has not finished shortly after the close frame.
 */
import { WebSocket } from 'ws';
import { closeReason, type CloseCode } from '../../protocol/errors.ts';

/** How long the peer has to answer a close frame before the connection is cut. */
export const CLOSE_HANDSHAKE_TIMEOUT_MS = 1_000;

/** Sends a close frame (reason trimmed to fit) and ends the connection within CLOSE_HANDSHAKE_TIMEOUT_MS. */
export function closeSocket(ws: WebSocket, code: CloseCode, reason: string): void {
  if (ws.readyState === WebSocket.CLOSED) return;
  // A paused socket would never read the peer's close frame.
  if (ws.isPaused) ws.resume();
  ws.close(code, closeReason(reason));
  const deadline = setTimeout(() => ws.terminate(), CLOSE_HANDSHAKE_TIMEOUT_MS);
  deadline.unref();
  ws.once('close', () => clearTimeout(deadline));
}

/**
 * Keeps a tool result within what a model turn can carry: a result over the
 * cap is cut at a character boundary and ends with a note saying so, so the
 * model knows it saw only part (and can ask for less, e.g. a smaller limit).
 * The cap is on the result's JSON text, as the session log stores it: a
 * result of control characters is six times longer there than in UTF-8, and
 * an entry over the NATS max_payload could never be recorded (the session
 * would step down and run the tool again, for ever).
 */
import { jsonTextBytes, jsonTextPrefix } from '../../protocol/json-text.ts';

/**
 * `content` when its JSON text fits `maxBytes`, else its longest prefix
 * whose JSON text fits together with the note.
 */
export function capResult(content: string, maxBytes: number): string {
  const bytes = jsonTextBytes(content);
  if (bytes <= maxBytes) return content;
  const note = `\n[truncated: the result has ${Buffer.byteLength(content, 'utf8')} bytes; only the first part is shown]`;
  return jsonTextPrefix(content, Math.max(0, maxBytes - jsonTextBytes(note))) + note;
}

/** The longest prefix of `text` whose UTF-8 encoding has at most `maxBytes`, never splitting a surrogate pair. */
export function prefixWithin(text: string, maxBytes: number): string {
  const encoded = Buffer.from(text, 'utf8');
  if (encoded.length <= maxBytes) return text;
  let end = maxBytes;
  // Step back over UTF-8 continuation bytes (10xxxxxx) to the start of a character.
  while (end > 0 && ((encoded[end] ?? 0) & 0xc0) === 0x80) end--;
  return encoded.subarray(0, end).toString('utf8');
}

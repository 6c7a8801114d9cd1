/**
 * Keeps a tool result within what a model turn can carry: a result over the
 * cap is cut at a character boundary and ends with a note saying so, so the
 * model knows it saw only part (and can ask for less, e.g. a smaller limit).
 */

/**
 * `content` when it fits `maxBytes` (UTF-8), else its longest prefix that
 * fits together with the note.
 */
export function capResult(content: string, maxBytes: number): string {
  const bytes = Buffer.byteLength(content, 'utf8');
  if (bytes <= maxBytes) return content;
  const note = `\n[truncated: the result has ${bytes} bytes; only the first part is shown]`;
  const budget = Math.max(0, maxBytes - Buffer.byteLength(note, 'utf8'));
  return prefixWithin(content, budget) + note;
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

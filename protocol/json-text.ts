/**
 * What a string costs once written inside JSON (the session log, a model
 * request): the UTF-8 bytes of its JSON text, escapes included, without the
 * quotes. A control character takes six bytes there (`\u0001`), a newline
 * two, so a limit meant for what is stored must be measured this way, not
 * in UTF-8 bytes of the string.
 */

/** UTF-8 bytes of one code point inside a JSON string, escaped as JSON.stringify writes it (a lone surrogate as a six-character \u escape). */
function jsonCost(c: number): number {
  if (c === 0x22 || c === 0x5c) return 2;
  if (c < 0x20) return c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6;
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdfff) return 6;
  return c < 0x10000 ? 3 : 4;
}

/** UTF-8 bytes of `s` inside a JSON string (without the quotes). */
export function jsonTextBytes(s: string): number {
  return Buffer.byteLength(JSON.stringify(s), 'utf8') - 2;
}

/** The longest prefix of `s` (whole code points) whose JSON text is at most `max` bytes. */
export function jsonTextPrefix(s: string, max: number): string {
  let n = 0;
  let end = 0;
  for (const ch of s) {
    n += jsonCost(ch.codePointAt(0) ?? 0);
    if (n > max) break;
    end += ch.length;
  }
  return s.slice(0, end);
}

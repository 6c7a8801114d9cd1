/**
 * Which files clients may upload as job inputs: text, JSON, PDF and media.
 * Markup that a browser would execute (text/html, image/svg+xml, XML) is
 * left out on purpose: the filesystem store serves uploads from the API's
 * own origin.
 */

const EXACT: ReadonlySet<string> = new Set(['text/plain', 'text/markdown', 'text/csv', 'text/vtt', 'application/json', 'application/pdf', 'application/x-subrip']);
const FAMILIES = ['audio/', 'video/', 'image/'] as const;
const REFUSED: ReadonlySet<string> = new Set(['image/svg+xml']);

/** Content types accepted, for messages and the OpenAPI description. */
export const ALLOWED_UPLOAD_TYPES: readonly string[] = [...EXACT, ...FAMILIES.map((f) => `${f}*`)];

/** `type/subtype` of a Content-Type value, lowercased, without parameters. */
export function mediaTypeOf(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

/** Whether an upload may declare this Content-Type (parameters such as charset are allowed). */
export function isAllowedUploadType(contentType: string): boolean {
  const type = mediaTypeOf(contentType);
  if (REFUSED.has(type)) return false;
  return EXACT.has(type) || FAMILIES.some((f) => type.startsWith(f) && type.length > f.length);
}

/**
 * Does a stored file's content match the media type its upload declared?
 * Judged from its first bytes only ({@link SNIFF_BYTES}), so it costs one
 * short read whatever the file's size:
 *
 * - binary types (images, audio, video, PDF): the `file-type` library must
 *   recognise the magic bytes as the declared type or one of its aliases
 *   (audio/mp3 = audio/mpeg, audio/mp4 = video/mp4, audio/webm = video/webm,
 *   video/ogg = audio/ogg, ...). An SVG or HTML page declared as image/png is
 *   recognised as nothing and refused.
 * - text types (plain, Markdown, CSV, VTT, SubRip, JSON): valid UTF-8 without
 *   NUL bytes and not a recognised binary format; JSON must start like a JSON
 *   value and VTT with its `WEBVTT` header.
 */
import { fileTypeFromBuffer } from 'file-type';
import { mediaTypeOf } from './content-types.ts';

/** How many leading bytes of a file the check reads. */
export const SNIFF_BYTES = 64 * 1024;

const TEXT_TYPES: ReadonlySet<string> = new Set(['text/plain', 'text/markdown', 'text/csv', 'text/vtt', 'application/x-subrip', 'application/json']);

/** Names of the same format: each maps to the one spelling types are compared in. */
const SAME_FORMAT: Readonly<Record<string, string>> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'audio/mp3': 'audio/mpeg',
  'audio/mpeg3': 'audio/mpeg',
  'audio/x-mpeg': 'audio/mpeg',
  'audio/x-mp3': 'audio/mpeg',
  'audio/x-wav': 'audio/wav',
  'audio/wave': 'audio/wav',
  'audio/vnd.wave': 'audio/wav',
  'audio/x-flac': 'audio/flac',
  'audio/x-aac': 'audio/aac',
  // One container, named by what it usually holds.
  'audio/mp4': 'video/mp4',
  'audio/x-m4a': 'video/mp4',
  'audio/m4a': 'video/mp4',
  'video/x-m4v': 'video/mp4',
  'audio/webm': 'video/webm',
  'video/ogg': 'audio/ogg',
  'application/ogg': 'audio/ogg',
  'audio/opus': 'audio/ogg',
};

/** Formats `file-type` may report for a text file that are still text. */
const TEXT_LIKE_DETECTIONS: ReadonlySet<string> = new Set(['application/xml', 'application/json', 'image/svg+xml']);

function sameFormat(type: string): string {
  return SAME_FORMAT[type] ?? type;
}

/**
 * Why the content does not match `declaredType`, or null when it does.
 * @param head the file's first bytes (at most {@link SNIFF_BYTES}; all of a smaller file)
 * @param complete whether `head` is the whole file (a cut-off multi-byte character is allowed only at a cut)
 */
export async function contentMismatch(declaredType: string, head: Uint8Array, complete: boolean): Promise<string | null> {
  const declared = mediaTypeOf(declaredType);
  const detected = await fileTypeFromBuffer(head);
  const detectedType = detected === undefined ? undefined : mediaTypeOf(detected.mime);
  if (TEXT_TYPES.has(declared)) {
    if (detectedType !== undefined && !detectedType.startsWith('text/') && !TEXT_LIKE_DETECTIONS.has(detectedType)) {
      return `the file's content is ${detectedType} (by its first bytes), not ${declared}`;
    }
    return textMismatch(declared, head, complete);
  }
  if (detectedType === undefined) return `the file's content is not recognisable as ${declared} (by its first bytes)`;
  if (sameFormat(detectedType) !== sameFormat(declared)) return `the file's content is ${detectedType} (by its first bytes), not ${declared}`;
  return null;
}

function textMismatch(declared: string, head: Uint8Array, complete: boolean): string | null {
  if (head.includes(0)) return `the file is not ${declared}: it contains NUL bytes`;
  const text = decodeUtf8(complete ? head : trimCutCharacter(head));
  if (text === null) return `the file is not ${declared}: it is not valid UTF-8 text`;
  const start = text.replace(/^\uFEFF/, '').trimStart();
  if (declared === 'application/json' && start.length > 0 && !/^[{["\-0-9tfn]/.test(start)) return 'the file is not JSON: it does not start with a JSON value';
  if (declared === 'text/vtt' && !text.replace(/^\uFEFF/, '').startsWith('WEBVTT')) return 'the file is not WebVTT: it does not start with WEBVTT';
  return null;
}

function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (err) {
    if (err instanceof TypeError) return null;
    throw err;
  }
}

/** Drops a multi-byte UTF-8 character cut off at the end of a head read (at most 3 bytes). */
function trimCutCharacter(bytes: Uint8Array): Uint8Array {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back] ?? 0;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back for the lead byte
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needed > back ? bytes.subarray(0, bytes.length - back) : bytes;
  }
  return bytes;
}

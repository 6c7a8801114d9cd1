/**
 * Small files for upload tests: the leading bytes of real PNG, JPEG, GIF,
 * WebP, PDF, WAV, MP3, Ogg, MP4 and WebM files (what magic-byte checks
 * read), and an SVG and an HTML page that must never pass as images.
 */
const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const latin1 = (s: string) => Buffer.from(s, 'latin1');
const pad = (head: Buffer, size = 256) => Buffer.concat([head, Buffer.alloc(Math.max(0, size - head.length), 0x20)]);

/** The first bytes of real files of each kind (enough for their magic numbers), and two pages that must never pass as images. */
export const FILE_SAMPLES = {
  png: pad(hex('89504e470d0a1a0a 0000000d 49484452 00000001 00000001 0806000000 1f15c489')),
  jpeg: pad(hex('ffd8ffe000104a46494600010100000100010000')),
  gif: pad(latin1('GIF89a\x01\x00\x01\x00\x80\x00\x00')),
  webp: pad(latin1('RIFF\x24\x00\x00\x00WEBPVP8 ')),
  pdf: pad(latin1('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n')),
  wav: pad(latin1('RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00')),
  mp3: pad(Buffer.concat([hex('fffb9064'), Buffer.alloc(413, 0), hex('fffb9064'), Buffer.alloc(413, 0), hex('fffb9064')]), 1_400),
  ogg: pad(Buffer.concat([latin1('OggS\x00\x02'), Buffer.alloc(20, 0), latin1('\x01\x1e\x01vorbis')])),
  mp4: pad(hex('00000018 66747970 69736f6d 00000200 69736f6d 69736f32')),
  webm: pad(hex('1a45dfa3 9f 4286 81 01 42f7 81 01 42f2 81 04 42f3 81 08 4282 84 7765626d 4287 81 02 4285 81 02')),
  svg: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>'),
  html: Buffer.from('<!doctype html><html><script>alert(1)</script></html>'),
};

/** A sample grown to `size` bytes (spaces after its header), for uploads of a declared size. */
export function sampleFile(kind: keyof typeof FILE_SAMPLES, size: number): Buffer {
  return pad(FILE_SAMPLES[kind], size).subarray(0, size);
}

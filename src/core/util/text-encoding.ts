/**
 * Encoding checks shared by the dataset readers: data files are UTF-8 (XC is plain ASCII), and a
 * file saved as UTF-16/32 or a binary file should be named as such, not reported as a bad token.
 */

/** Longest line a reader accepts: a longer one is refused before it is held in memory. 16 MiB. */
export const MAX_LINE_BYTES = 1 << 24;

const BOMS: readonly [string, readonly number[]][] = [
  // UTF-32 LE starts like UTF-16 LE: test it first
  ['UTF-32 little-endian', [0xff, 0xfe, 0x00, 0x00]],
  ['UTF-32 big-endian', [0x00, 0x00, 0xfe, 0xff]],
  ['UTF-16 little-endian', [0xff, 0xfe]],
  ['UTF-16 big-endian', [0xfe, 0xff]],
];

/**
 * Why the start of a file (`head`, its first bytes) is not UTF-8 text, or null: a UTF-16/32 byte
 * order mark, or a NUL byte (binary data, or UTF-16 without a mark), with the line it is on.
 */
export function notText(head: Uint8Array): { line: number; problem: string } | null {
  for (const [name, bom] of BOMS) {
    if (head.length >= bom.length && bom.every((b, i) => head[i] === b)) {
      const hex = bom.map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
      return { line: 1, problem: `file is ${name} (byte order mark ${hex}): expected UTF-8 text` };
    }
  }
  const nul = head.indexOf(0);
  if (nul < 0) return null;
  let line = 1;
  let lineStart = 0;
  for (let p = head.indexOf(10); p >= 0 && p < nul; p = head.indexOf(10, p + 1)) {
    line++;
    lineStart = p + 1;
  }
  return { line, problem: `binary data (a NUL byte at column ${nul - lineStart + 1}): expected UTF-8 text` };
}

/** Index of the first byte in [start, end) that breaks UTF-8, or -1 when the range is valid. */
export function firstInvalidUtf8(buf: Uint8Array, start: number, end: number): number {
  let p = start;
  while (p < end) {
    const c = buf[p];
    if (c < 0x80) {
      p++;
      continue;
    }
    let n: number; // continuation bytes
    let min: number; // smallest code point of this length (overlong forms are invalid)
    if (c >= 0xc2 && c <= 0xdf) [n, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [n, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, min] = [3, 0x10000];
    else return p;
    if (p + n >= end) return p; // sequence cut by the end of the line
    let cp = c & (0x3f >> n);
    for (let i = 1; i <= n; i++) {
      const b = buf[p + i];
      if ((b & 0xc0) !== 0x80) return p;
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return p;
    p += n + 1;
  }
  return -1;
}

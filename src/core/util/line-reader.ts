/**
 * The line reader both dataset readers (XC, JSONL) stream their files through: one reused
 * buffer, a bounded line length, and the text checks every data file needs (UTF-8 byte order
 * mark, CRLF, UTF-16/32 or binary files named as such).
 */
import { open } from 'node:fs/promises';
import { DataFormatError } from './errors.js';
import { MAX_LINE_BYTES, notText } from './text-encoding.js';

const NL = 10;
const CR = 13;

/**
 * Calls onLine(buf, start, end, lineNo) for every line (1-based) of a UTF-8 text file, [start, end)
 * without the line ending (LF or CRLF) and, on line 1, without a UTF-8 byte order mark; a file
 * that starts as UTF-16/32 or binary is a DataFormatError naming that (see notText). Reads into
 * one reused buffer: a partial line at the end of a read moves to the front, and the buffer only
 * grows when a single line is longer than it. A line longer than maxLineBytes is a
 * DataFormatError, raised before the buffer grows past about twice that.
 */
export async function forEachLine(
  path: string,
  onLine: (buf: Buffer, start: number, end: number, lineNo: number) => void,
  maxLineBytes = MAX_LINE_BYTES,
): Promise<number> {
  const fh = await open(path, 'r');
  let buf = Buffer.allocUnsafe(1 << 22);
  let filled = 0; // valid bytes in buf
  let start = 0; // start of the current, unfinished line
  let lineNo = 0;
  const emit = (view: Buffer, from: number, to: number): void => {
    if (to > from && view[to - 1] === CR) to--;
    if (++lineNo === 1) {
      if (to - from >= 3 && view[from] === 0xef && view[from + 1] === 0xbb && view[from + 2] === 0xbf) from += 3;
      const bad = notText(view.subarray(from, to));
      if (bad) throw new DataFormatError(path, 1, bad.problem);
    }
    onLine(view, from, to, lineNo);
  };
  try {
    for (;;) {
      if (start > 0) {
        buf.copyWithin(0, start, filled);
        filled -= start;
        start = 0;
      }
      if (filled === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, filled, buf.length - filled, null);
      if (bytesRead === 0) break;
      let scan = filled; // [start, filled) holds no newline
      filled += bytesRead;
      const view = buf.subarray(0, filled);
      let nl: number;
      while ((nl = view.indexOf(NL, scan)) >= 0) {
        if (nl - start > maxLineBytes) throw tooLong(path, lineNo + 1, maxLineBytes);
        emit(view, start, nl);
        start = scan = nl + 1;
      }
      if (filled - start > maxLineBytes) throw tooLong(path, lineNo + 1, maxLineBytes);
    }
    if (start < filled) emit(buf.subarray(0, filled), start, filled);
  } finally {
    await fh.close();
  }
  return lineNo;
}

function tooLong(path: string, lineNo: number, maxLineBytes: number): DataFormatError {
  return new DataFormatError(path, lineNo, `line is longer than ${maxLineBytes} bytes (the limit for one line)`);
}

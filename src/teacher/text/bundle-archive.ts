/**
 * A text-teacher bundle sent as one file (.tar or .zip, told apart by their magic bytes), unpacked
 * in memory with node-tar and fflate. Only regular files are kept; every file must sit at the
 * top or under one common folder (how `tar -cf b.tar bundle/` and zip tools write it); links,
 * absolute paths and `..` are refused.
 */
import { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { unzipSync } from 'fflate';
import { ContractError } from '../../core/util/errors.js';
import type { BundleFiles } from './text-bundle.js';

/** Files a bundle may hold, and their total size after unpacking. */
export const MAX_BUNDLE_FILES = 64;

export type ArchiveKind = 'tar' | 'zip';

export function archiveKind(bytes: Uint8Array): ArchiveKind | null {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'zip';
  if (bytes.length >= 262 && new TextDecoder().decode(bytes.subarray(257, 262)) === 'ustar') return 'tar';
  return null;
}

/** Unpacks a bundle archive; `where` names it in messages; maxBytes bounds the unpacked size. */
export async function unpackBundleArchive(bytes: Uint8Array, where: string, maxBytes: number): Promise<BundleFiles> {
  const kind = archiveKind(bytes);
  if (kind === null) throw new ContractError(`${where}: not a .tar or .zip archive`);
  const raw = kind === 'zip' ? unzipFiles(bytes, where, maxBytes) : await untarFiles(bytes, where, maxBytes);
  return stripCommonFolder(raw, where);
}

function checkName(name: string, where: string): void {
  if (name.startsWith('/') || name.split('/').includes('..')) throw new ContractError(`${where}: unsafe path "${name}" in the archive`);
}

function unzipFiles(bytes: Uint8Array, where: string, maxBytes: number): Map<string, Uint8Array> {
  let total = 0;
  let count = 0;
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes, {
      filter: (f) => {
        if (f.name.endsWith('/')) return false; // folders
        checkName(f.name, where);
        total += f.originalSize;
        if (++count > MAX_BUNDLE_FILES) throw new ContractError(`${where}: more than ${MAX_BUNDLE_FILES} files`);
        if (total > maxBytes) throw new ContractError(`${where}: more than ${maxBytes} bytes once unpacked`);
        return true;
      },
    });
  } catch (e) {
    if (e instanceof ContractError) throw e;
    throw new ContractError(`${where}: not a readable zip archive (${(e as Error).message})`);
  }
  return new Map(Object.entries(entries));
}

async function untarFiles(bytes: Uint8Array, where: string, maxBytes: number): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  let total = 0;
  let failure: Error | null = null;
  const reads: Promise<void>[] = [];
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const name = entry.path;
      try {
        if (entry.type === 'Directory') return entry.resume();
        if (entry.type !== 'File' && entry.type !== 'OldFile') throw new ContractError(`${where}: "${name}" is a ${entry.type}, only regular files are accepted`);
        checkName(name, where);
        total += entry.size;
        if (files.size >= MAX_BUNDLE_FILES) throw new ContractError(`${where}: more than ${MAX_BUNDLE_FILES} files`);
        if (total > maxBytes) throw new ContractError(`${where}: more than ${maxBytes} bytes once unpacked`);
      } catch (e) {
        failure ??= e as Error;
        return entry.resume();
      }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      reads.push(new Promise((res) => entry.on('end', () => res(void files.set(name, Buffer.concat(chunks))))));
    },
  });
  await new Promise<void>((res, rej) => {
    parser.on('error', (e: Error) => rej(new ContractError(`${where}: not a readable tar archive (${e.message})`)));
    parser.on('end', () => res());
    Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)]).pipe(parser);
  });
  await Promise.all(reads);
  if (failure) throw failure;
  return files;
}

/** Names relative to the bundle root: a single folder around every file is dropped. */
function stripCommonFolder(files: Map<string, Uint8Array>, where: string): BundleFiles {
  const names = [...files.keys()].map((n) => n.replace(/^\.\//, ''));
  const first = names[0]?.split('/')[0];
  const wrapped = names.length > 0 && names.every((n) => n.includes('/') && n.split('/')[0] === first);
  const out = new Map<string, Uint8Array>();
  for (const [name, data] of files) {
    const rel = name.replace(/^\.\//, '');
    const inner = wrapped ? rel.slice(first!.length + 1) : rel;
    if (inner.includes('/')) throw new ContractError(`${where}: "${name}" is in a sub-folder; a bundle's files sit together at its top`);
    out.set(inner, data);
  }
  return out;
}

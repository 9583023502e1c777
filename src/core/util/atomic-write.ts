import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes `path` through a temp file and a rename, so readers never see a half-written file. The
 * data is flushed to disk before the rename (a crash right after never exposes an empty file), and
 * the temp name is unique, so two writers in one process never share it.
 */
export async function writeFileAtomically(path: string, bytes: Uint8Array | string | readonly Uint8Array[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    if (Array.isArray(bytes)) await writeFileParts(tmp, bytes, { flush: true });
    else await writeFile(tmp, bytes as Uint8Array | string, { flush: true });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Writes `path` as the parts one after the other (a file made of pieces, not joined in memory
 * first), flushed to disk when asked.
 */
export async function writeFileParts(path: string, parts: readonly Uint8Array[], opts: { flush?: boolean } = {}): Promise<void> {
  const fh = await open(path, 'w');
  try {
    for (const p of parts) await fh.writeFile(p); // each from where the last one ended
    if (opts.flush) await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Whether a process of this machine with that pid runs: temp files named after their writer's pid
 * are left alone while it lives and removed once it is gone (killed mid-write).
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A text-teacher bundle kept as the archive it was uploaded as (its sha256 is checked before a job
 * reads it, like an ONNX teacher's file), and unpacked beside it on first use by a job.
 */
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TextTeacherKind } from './bundle-manifest.js';
import { unpackBundleArchive } from './bundle-archive.js';
import { TextTeacher } from './text-teacher.js';

/** Staged file name of an uploaded bundle archive. */
export const BUNDLE_ARCHIVE = 'teacher-bundle';

/** Everything a load checks (manifest, tokenizer, model, trial run), from the archive's bytes. */
export async function checkBundleArchive(bytes: Uint8Array, where: string, maxBytes: number): Promise<{ kind: TextTeacherKind; numLabels: number | null }> {
  const files = await unpackBundleArchive(bytes, where, maxBytes);
  const t = await TextTeacher.fromFiles(files, where);
  const out = { kind: t.kind, numLabels: t.labelNames?.length ?? null };
  await t.close();
  return out;
}

/** The bundle folder of a stored archive, unpacked next to it once (written aside, then renamed). */
export async function unpackedBundleDir(archivePath: string, maxBytes = 4 * 2 ** 30): Promise<string> {
  const dir = `${archivePath}.d`;
  try {
    if ((await stat(dir)).isDirectory()) return dir;
  } catch {
    // not unpacked yet
  }
  const files = await unpackBundleArchive(new Uint8Array(await readFile(archivePath)), archivePath, maxBytes);
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(tmp, { recursive: true });
  for (const [name, data] of files) await writeFile(join(tmp, name), data);
  try {
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if ((e as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return dir;
}

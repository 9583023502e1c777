/**
 * The benches' teachers: one per dataset, fitted with `distilxr teacher fit` defaults into
 * bench/results/tmp/<ds>/teacher.onnx (its report kept beside it as teacher.onnx.fit.json) and
 * reused by every bench after, unless fresh.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TMP_DIR, distilxrJson, type DatasetSplit } from './lib.js';

export interface TeacherInfo {
  path: string;
  /** `teacher fit --json` of this teacher, when we fitted it (now or on an earlier run). */
  fit: Record<string, unknown> | null;
  fitWallSeconds?: number;
}

async function readFitReport(teacher: string): Promise<{ json: Record<string, unknown>; wallSeconds?: number } | null> {
  const p = `${teacher}.fit.json`;
  if (!existsSync(p)) return null;
  const saved = JSON.parse(await readFile(p, 'utf8')) as { report: Record<string, unknown>; wallSeconds?: number };
  return { json: saved.report, wallSeconds: saved.wallSeconds };
}

/** A teacher of `ds` found in `dirs` (<DIR>/<ds>-teacher.onnx or <DIR>/<ds>/teacher.onnx), else the benches' own, fitted now if missing. */
export async function teacherFor(ds: string, split: DatasetSplit, dirs: string[], fresh: boolean): Promise<TeacherInfo> {
  const reuse = async (p: string, how: string): Promise<TeacherInfo> => {
    process.stderr.write(`[${ds}] reusing teacher ${p}${how}\n`);
    const fit = await readFitReport(p);
    return { path: p, fit: fit?.json ?? null, fitWallSeconds: fit?.wallSeconds };
  };
  if (!fresh) {
    for (const d of dirs) {
      for (const p of [join(d, `${ds}-teacher.onnx`), join(d, ds, 'teacher.onnx')]) if (existsSync(p)) return reuse(p, '');
    }
  }
  const out = join(TMP_DIR, ds, 'teacher.onnx');
  if (!fresh && existsSync(out)) return reuse(out, ' (--fresh to refit)');
  process.stderr.write(`[${ds}] fitting the teacher (log: ${out}.log) ...\n`);
  const r = await distilxrJson<Record<string, unknown>>(['teacher', 'fit', '--train', split.train, '--test', split.test, '--out', out], `${out}.log`);
  await writeFile(`${out}.fit.json`, JSON.stringify({ report: r.json, wallSeconds: r.seconds }, null, 2) + '\n');
  return { path: out, fit: r.json, fitWallSeconds: r.seconds };
}


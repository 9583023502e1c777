/**
 * Job errors and job log lines reach clients (GET /v1/jobs/:id, the event stream): they must not
 * show the server's filesystem. The pipeline names the files it reads by path (data format errors,
 * ONNX Runtime, fs errors), so what leaves the worker goes through here: each path the job was
 * given becomes the name of what it is, and any other absolute path its last segment.
 */
import { basename } from 'node:path';
import type { ThreadTask } from './thread-protocol.js';

/** An absolute path of two or more segments, where a path may start in a message. */
const ABSOLUTE_PATH = /(^|[\s"'(=:,[])(\/(?:[\w.@+-]+\/)+[\w.@+-]*)/g;

export class ClientMessages {
  /** [path, name], longest path first so a file is named before the directory holding it. */
  private readonly names: [string, string][];

  constructor(names: Record<string, string> = {}) {
    this.names = Object.entries(names)
      .filter(([path]) => path.length > 1)
      .sort((a, b) => b[0].length - a[0].length);
  }

  /** The names of a job's files: its dataset's and teacher's by id, its outputs by role. */
  static forTask(task: ThreadTask, ids: { datasetId: string; teacherId?: string | null }): ClientMessages {
    const names: Record<string, string> = { [task.trainPath]: `dataset ${ids.datasetId} (train)` };
    if (task.testPath) names[task.testPath] = `dataset ${ids.datasetId} (test)`;
    if (task.kind === 'train') {
      if (task.teacherPath) names[task.teacherPath] = `teacher ${ids.teacherId ?? ''}`.trim();
      names[task.outDir] = 'the model directory';
      names[task.checkpointPath] = 'the job checkpoint';
    } else names[task.outPath] = 'the fitted teacher';
    return new ClientMessages(names);
  }

  redact(message: string): string {
    let out = message;
    for (const [path, name] of this.names) out = out.split(path).join(name);
    return out.replace(ABSOLUTE_PATH, (_m, lead: string, path: string) => `${lead}${basename(path) || 'a server path'}`);
  }
}

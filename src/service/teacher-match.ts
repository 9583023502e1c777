/**
 * Whether a teacher can score a dataset, decided at submission so that a job never fails late on
 * it. A teacher scores labels by id and reads features by id: on its own dataset it fits; on
 * another one the ids must mean the same. Label names say so when both datasets have them (the
 * names must agree id by id; a teacher with more labels fits when the dataset's are its first
 * ones); without names, the label counts must be equal. A teacher fitted on JSONL text reads that
 * dataset's own vocabulary, so it scores no other dataset.
 */
import type { ArtifactStore } from '../infra/artifacts/artifact-store.js';
import { storedLabelNames } from '../infra/artifacts/dataset-label-names.js';
import { BadRequestError } from './errors.js';
import { isTextTeacherKind } from '../teacher/text/bundle-manifest.js';
import type { DatasetRecord, Repository, TeacherRecord } from '../infra/records.js';

export async function checkTeacherFitsDataset(repo: Repository, store: ArtifactStore, teacher: TeacherRecord, dataset: DatasetRecord): Promise<void> {
  const labels = dataset.stats.labels;
  if (isTextTeacherKind(teacher.kind)) {
    // labels are matched by name when the job starts (the worker refuses names the teacher lacks)
    if (dataset.format !== 'jsonl') throw new BadRequestError(`teacher "${teacher.id}" is a text ${teacher.kind}: it reads raw text, and dataset "${dataset.id}" is ${dataset.format} (sparse features)`);
    return;
  }
  const source = teacher.datasetId && teacher.datasetId !== dataset.id ? await repo.getDataset(teacher.datasetId) : null;
  const t = `teacher "${teacher.id}"`;
  const d = `dataset "${dataset.id}"`;
  let namesMatchAsPrefix = false;
  if (source) {
    const fittedOn = `(fitted on dataset "${source.id}")`;
    if (source.format === 'jsonl' || dataset.format === 'jsonl') {
      throw new BadRequestError(`${t} was fitted on ${source.format} dataset "${source.id}" and reads its features only; ${d} is ${dataset.format}${dataset.format === 'jsonl' ? ' with a vocabulary of its own' : ''}: fit a teacher on ${d}`);
    }
    if (dataset.stats.features > source.stats.features) {
      throw new BadRequestError(`${d} declares ${dataset.stats.features} features but ${t} ${fittedOn} reads ${source.stats.features}`);
    }
    const [teacherNames, datasetNames] = await Promise.all([storedLabelNames(store, source), storedLabelNames(store, dataset)]);
    if (teacherNames && datasetNames) {
      const shared = Math.min(teacherNames.length, datasetNames.length);
      for (let i = 0; i < shared; i++) {
        if (teacherNames[i] !== datasetNames[i]) {
          throw new BadRequestError(
            `label ${i} is named ${JSON.stringify(datasetNames[i])} in ${d} but ${JSON.stringify(teacherNames[i])} in ${t} ${fittedOn}: ` +
              'a teacher scores labels by id, so their names must agree in the same order',
          );
        }
      }
      namesMatchAsPrefix = true;
    }
  }
  const scored = teacher.numLabels;
  if (scored === null || scored === labels) return; // a scorer of any label count, or the same count
  if (scored < labels) throw new BadRequestError(`${t} scores ${scored} labels but ${d} has ${labels}`);
  if (!namesMatchAsPrefix) {
    throw new BadRequestError(
      `${t} scores ${scored} labels but ${d} has ${labels}: a teacher must score exactly the dataset's labels, or more when both datasets name their labels and the dataset's are the teacher's first ones`,
    );
  }
}

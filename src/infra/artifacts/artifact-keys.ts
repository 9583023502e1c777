/**
 * Where each kind of artifact lives in the store, shared by the API (uploads, deletes, disk usage)
 * and the workers (checkpoints, results).
 */

/** Where workers keep parsed copies of XC datasets (binary-cache.ts), unless told otherwise. */
export const XC_CACHE_KEY = 'cache';

/** Top-level prefixes by kind, as /metrics reports disk usage. */
export const ARTIFACT_KINDS = ['datasets', 'teachers', 'models', 'checkpoints', XC_CACHE_KEY] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

export const datasetPrefix = (datasetId: string): string => `datasets/${datasetId}`;
export const teacherPrefix = (teacherId: string): string => `teachers/${teacherId}`;
/** Artifact-store prefix of a job's resumable state; removed when the job ends, whatever its status. */
export const checkpointDirKey = (jobId: string): string => `checkpoints/${jobId}`;
export const checkpointKey = (jobId: string): string => `${checkpointDirKey(jobId)}/train.bin`;
/** A job's scoring chunks (inputs and outputs, pipeline/score-fan-out.ts): part of its resumable state. */
export const scoreChunksKey = (jobId: string): string => `${checkpointDirKey(jobId)}/scores`;

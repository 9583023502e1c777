/**
 * Whether running the same work again can succeed. 'permanent': it fails the same way every time
 * (bad input, a broken teacher contract, out of memory), so a job fails at once without a retry.
 * 'retriable': a thread that crashed or died, say; the job is retried with backoff.
 */
export type ErrorKind = 'permanent' | 'retriable';

/** Every error the project raises on purpose derives from this, so callers can tell ours from bugs. */
export class DistilxrError extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** @defaultValue 'permanent': most of our errors name a problem with the input */
    readonly kind: ErrorKind = 'permanent',
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * True when a retry cannot help: one of our errors of kind 'permanent'. Anything else (a
 * retriable DistilxrError, an I/O error, a bug's TypeError) may pass on another try.
 */
export function isPermanent(e: unknown): boolean {
  return e instanceof DistilxrError && e.kind === 'permanent';
}

/** A worker thread's `error` event: out of memory is permanent (the same work needs the same memory), anything else retriable. */
export function threadFailureKind(e: Error & { code?: string }): ErrorKind {
  return e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'permanent' : 'retriable';
}

/** Malformed input data. The message names file, line and problem: `file:line: what is wrong`. */
export class DataFormatError extends DistilxrError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(`${file}:${line}: ${problem}`, 'DATA_FORMAT');
  }
}

/** An ONNX model that does not meet the teacher contract; the message names the mismatch. */
export class ContractError extends DistilxrError {
  constructor(message: string) {
    super(message, 'TEACHER_CONTRACT');
  }
}

/** A NaN or infinity appeared in training; raised where it appears, not saved into a model. */
export class NumericError extends DistilxrError {
  constructor(message: string) {
    super(message, 'NUMERIC');
  }
}

/** Bad user input other than data files: flags, query strings, config. */
export class UsageError extends DistilxrError {
  constructor(message: string) {
    super(message, 'USAGE');
  }
}

/** The job was asked to stop; raised at the next batch boundary. */
export class CancelledError extends DistilxrError {
  constructor(message = 'cancelled') {
    super(message, 'CANCELLED');
  }
}

/**
 * A job ran out of the memory it may use (its thread's heap limit, or its process's resident
 * memory limit). Not retried: the same job on the same data needs the same memory again.
 */
export class OutOfMemoryError extends DistilxrError {
  constructor(message: string) {
    super(message, 'OUT_OF_MEMORY');
  }
}

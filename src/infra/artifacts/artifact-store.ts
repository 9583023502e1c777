/**
 * Artifacts (uploads, teachers, checkpoints, model directories) by key, e.g.
 * `datasets/<id>/train.txt`. Keys are relative paths of [A-Za-z0-9._-] segments; nothing else is
 * accepted, so a key from a request can never escape the store.
 */
export interface ArtifactStore {
  /** Absolute local path of a key (the filesystem store; a shared volume across workers). */
  pathOf(key: string): string;
  /** Writes a stream to a temporary file and renames it into place; returns bytes and sha256. */
  putStream(key: string, data: NodeJS.ReadableStream, opts?: { maxBytes?: number }): Promise<{ bytes: number; sha256: string }>;
  putBytes(key: string, data: Uint8Array): Promise<{ bytes: number; sha256: string }>;
  exists(key: string): Promise<boolean>;
  /** Removes a key or a whole prefix ("directory"). */
  remove(key: string): Promise<void>;
  /** Bytes stored under a key or prefix (0 when absent). */
  usage(prefix: string): Promise<number>;
  /**
   * Throws ArtifactIntegrityError (naming the key) unless the file hashes to `sha256`, the value
   * recorded when it was stored.
   */
  verify(key: string, sha256: string): Promise<void>;
  /**
   * A group of files that appear under `prefix` all at once on commit(), or never: they are written
   * into a staging area that is never read as artifacts (a process killed mid-upload leaves
   * nothing under `prefix`; its staging files are removed by removeAbandoned).
   */
  stage(prefix: string): StagedArtifacts;
  /** Removes the staging files of processes that no longer run (called when a process starts). */
  removeAbandoned(): Promise<number>;
}

export interface StagedArtifacts {
  /** Writes one file of the group (name: one key segment); returns bytes and sha256. */
  putStream(name: string, data: NodeJS.ReadableStream, opts?: { maxBytes?: number }): Promise<{ bytes: number; sha256: string }>;
  /** Local path of a staged file, to validate it before commit. */
  pathOf(name: string): string;
  /** Moves the whole group to its prefix in one rename; refuses when the prefix exists already. */
  commit(): Promise<void>;
  /** Drops the staged files (after a failure); safe to call after commit (does nothing then). */
  discard(): Promise<void>;
}

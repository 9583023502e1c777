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
}

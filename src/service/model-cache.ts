import type { LoadedModel } from '../pipeline/model-dir.js';

/**
 * Loaded models by id, least recently used evicted first. Loads are lazy and shared: concurrent
 * first queries of one model wait on the same load; a failed load is forgotten so the next call
 * retries. Published models never change; a deleted one is dropped with delete().
 */
export class ModelCache {
  /** Map order is recency order: the first key is the least recently used. */
  private readonly entries = new Map<string, Promise<LoadedModel>>();

  /**
   * @param load reads a model by id (from the artifact store)
   * @param capacity models kept loaded. @defaultValue 4
   */
  constructor(
    private readonly load: (id: string) => Promise<LoadedModel>,
    readonly capacity = 4,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`model cache capacity must be an integer >= 1, got ${capacity}`);
  }

  get(id: string): Promise<LoadedModel> {
    const hit = this.entries.get(id);
    if (hit) {
      this.entries.delete(id);
      this.entries.set(id, hit);
      return hit;
    }
    const loading = this.load(id);
    this.entries.set(id, loading);
    loading.catch(() => {
      if (this.entries.get(id) === loading) this.entries.delete(id);
    });
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return loading;
  }

  /** Forgets a model (deleted): the next get() loads it again, or fails when it is gone. */
  delete(id: string): boolean {
    return this.entries.delete(id);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** Ids loaded or loading, least recently used first. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}

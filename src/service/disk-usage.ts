/**
 * Bytes under the artifact store by kind (datasets, teachers, models, checkpoints, the XC cache),
 * for /metrics. Walking the store costs one stat per file, so the figure is kept and computed again
 * only when it is older than `maxAgeMs` or the API changed the store (invalidate()); workers'
 * writes (checkpoints, models) show up within `maxAgeMs`.
 */
import { ARTIFACT_KINDS, type ArtifactKind } from '../infra/artifacts/artifact-keys.js';
import type { ArtifactStore } from '../infra/artifacts/artifact-store.js';

export type DiskUsageBytes = Record<ArtifactKind, number>;

export class DiskUsage {
  private cached: { at: number; bytes: DiskUsageBytes } | null = null;
  private computing: Promise<DiskUsageBytes> | null = null;
  /** Bumped by invalidate(), so a walk that started before a change is not kept as fresh. */
  private generation = 0;

  /**
   * @param maxAgeMs how long a figure is reused. @defaultValue 30000
   */
  constructor(
    private readonly store: Pick<ArtifactStore, 'usage'>,
    readonly maxAgeMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The store changed: the next get() walks it again. */
  invalidate(): void {
    this.generation++;
    this.cached = null;
  }

  get(): Promise<DiskUsageBytes> {
    if (this.cached && this.now() - this.cached.at < this.maxAgeMs) return Promise.resolve(this.cached.bytes);
    // concurrent scrapes share one walk
    this.computing ??= this.walk().finally(() => {
      this.computing = null;
    });
    return this.computing;
  }

  private async walk(): Promise<DiskUsageBytes> {
    const generation = this.generation;
    const at = this.now();
    const sizes = await Promise.all(ARTIFACT_KINDS.map((kind) => this.store.usage(kind)));
    const bytes = Object.fromEntries(ARTIFACT_KINDS.map((kind, i) => [kind, sizes[i]])) as DiskUsageBytes;
    if (generation === this.generation) this.cached = { at, bytes };
    return bytes;
  }
}

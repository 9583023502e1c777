/**
 * A string → number map split over many V8 Maps by a hash of the key. One Map of a large
 * vocabulary grows by rehashing into a single table of tens of MB: an allocation that can exceed
 * the slack Node gives a worker thread at its heap limit (16 MB), which then takes the whole
 * process down instead of ending the thread with ERR_WORKER_OUT_OF_MEMORY. Shards keep every
 * growth step small, and lift V8's cap of 2^24 entries per Map.
 */
import { hashTerm } from '../util/hash.js';

const SHARD_BITS = 6;

/** The top bits of the term hash (feature hashing uses the low ones). */
function shardOf(key: string): number {
  return hashTerm(key) >>> (32 - SHARD_BITS);
}

export class TermIndex {
  private readonly shards: Map<string, number>[] = Array.from({ length: 1 << SHARD_BITS }, () => new Map());

  get(key: string): number | undefined {
    return this.shards[shardOf(key)].get(key);
  }

  set(key: string, value: number): void {
    this.shards[shardOf(key)].set(key, value);
  }
}

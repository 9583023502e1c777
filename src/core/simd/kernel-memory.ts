/**
 * The training step's inner loops in WebAssembly SIMD (kernels.wat), and the one shared memory
 * they work in. WebAssembly reaches only its own memory, so the student's parameters, their
 * Adagrad accumulators and each trainer's scratch vectors are carved out of a shared
 * WebAssembly.Memory: its buffer is a SharedArrayBuffer, so Hogwild threads attach the same
 * memory and update the same rows, as they do with plain shared arrays.
 */
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';

/** kernels.wat's exports; addresses are byte offsets into the memory, n a length in floats. */
export interface Kernels {
  /** Σ x[i]·y[i] (f32, eight partial sums). */
  dot(x: number, y: number, n: number): number;
  /** y += a·x */
  axpy(y: number, x: number, a: number, n: number): void;
  /** y *= a */
  scale(y: number, a: number, n: number): void;
  /** y += a0·x0 + a1·x1 */
  axpy2(y: number, x0: number, x1: number, a0: number, a1: number, n: number): void;
  /** g = scale·grad; a += g²; p -= lr·g / (√a + 1e-8), per coordinate. */
  adagrad(p: number, a: number, g: number, scale: number, lr: number, n: number): void;
  /** q = Σ_p vals[p]·W1[feats[p]] (nnz input rows, two per pass as axpy2 pairs them), then returns q · q: an example's encoding in one call. */
  encode(q: number, W1: number, feats: number, vals: number, nnz: number, d: number): number;
  /**
   * Student.encodeAll's unit rows, `rows` of them into out ([rows, d]), row r's nonzeros at feats/vals [indptr[r], indptr[r+1]):
   * bit for bit the plain loops' rounding (doubles, two a pass), with `bias` 1 the last slot set to 1.
   */
  encodeRows(out: number, W1: number, indptr: number, feats: number, vals: number, rows: number, d: number, bias: number): void;
  /** out[c] = f32(scale · (q · row rows[c] of the [·, d] table at base)), c < n: a training example's candidate scores in one call. */
  dots(out: number, q: number, base: number, rows: number, n: number, d: number, scale: number): void;
  /**
   * A training example's backward pass in one call, as StudentTrainer's per-row steps do it, bit for bit: dq from
   * the candidates' V rows (gradients grads[c]·invTau), Adagrad on those rows, then with invNorm > 0 du and Adagrad
   * on the input rows feats[p] scaled by vals[p] (kernels.wat).
   */
  backward(q: number, dq: number, du: number, d: number, V: number, AV: number, rows: number, grads: number, n: number, invTau: number, lrV: number, W1: number, AW1: number, feats: number, vals: number, nnz: number, lrW: number, e: number, invNorm: number): void;
}

const PAGE = 65536;
/** WebAssembly's 32-bit memories stop at 4 GiB; one page is kept back for the header. */
const MAX_PAGES = 65535;
/** Bytes before the first array: the bump pointer (i32), padded to a SIMD-friendly 16. */
const HEADER = 16;

let compiled: WebAssembly.Module | null = null;
function kernelsModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
  return compiled;
}

export class KernelMemory {
  readonly kernels: Kernels;
  private readonly next: Uint32Array; // the bump pointer, shared by every thread (unsigned: memories reach 4 GiB)

  private constructor(readonly memory: WebAssembly.Memory) {
    this.kernels = new WebAssembly.Instance(kernelsModule(), { env: { memory } }).exports as unknown as Kernels;
    this.next = new Uint32Array(memory.buffer, 0, 1);
  }

  /** A memory for `floats` values in all (arrays are rounded up to 4 floats each), or null above 4 GiB. */
  static create(floats: number): KernelMemory | null {
    const pages = Math.ceil((HEADER + 4 * floats) / PAGE);
    if (pages > MAX_PAGES) return null;
    const km = new KernelMemory(new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }));
    Atomics.store(km.next, 0, HEADER);
    return km;
  }

  /** Every array carved so far dropped and the memory zeroed, as new: for runs that never overlap (KernelMemorySlot). */
  private reset(): void {
    const used = Atomics.load(this.next, 0);
    new Uint8Array(this.memory.buffer, HEADER, used - HEADER).fill(0);
    Atomics.store(this.next, 0, HEADER);
  }

  /** Whether `floats` more values fit once it is reset. */
  private fits(floats: number): boolean {
    return HEADER + 4 * floats <= this.memory.buffer.byteLength;
  }

  /**
   * `create(floats)`, or `slot`'s memory reset when it is large enough (a new one is kept there
   * otherwise). Whatever was carved from the slot's memory before must be out of use.
   */
  static fromSlot(slot: KernelMemorySlot, floats: number): KernelMemory | null {
    const kept = slot.memory;
    if (kept?.fits(floats)) {
      kept.reset();
      return kept;
    }
    slot.memory = KernelMemory.create(floats);
    return slot.memory;
  }

  /** Another thread's KernelMemory (its `memory`, posted to this thread), with kernels of its own. */
  static attach(memory: WebAssembly.Memory): KernelMemory {
    return new KernelMemory(memory);
  }

  /** n floats of the memory, zeroed when new, 16-byte aligned; any thread may carve. */
  floats(n: number): Float32Array {
    const out = this.tryFloats(n);
    if (!out) throw new RangeError(`kernel memory: ${n} more floats do not fit in its ${this.memory.buffer.byteLength} bytes`);
    return out;
  }

  /** floats(n), or null when they do not fit in what is left (which stays free for smaller arrays). */
  tryFloats(n: number): Float32Array | null {
    const bytes = 4 * (Math.ceil(n / 4) * 4);
    for (;;) {
      const at = Atomics.load(this.next, 0);
      if (at + bytes > this.memory.buffer.byteLength) return null;
      // another thread may carve between the load and here: then try again from where it left off
      if (Atomics.compareExchange(this.next, 0, at, at + bytes) === at) return new Float32Array(this.memory.buffer, at, n);
    }
  }

  /** A copy of `a` in the memory. */
  copyOf(a: Float32Array): Float32Array {
    const out = this.floats(a.length);
    out.set(a);
    return out;
  }

  /** This thread's view of an array another thread carved (posted here as a view of the same memory). */
  view(a: Float32Array): Float32Array {
    return new Float32Array(this.memory.buffer, a.byteOffset, a.length);
  }

  /** True when `a` is a view of this memory, as this thread sees it (so a.byteOffset is its address). */
  holds(a: ArrayBufferView): boolean {
    return a.buffer === this.memory.buffer;
  }
}

/**
 * A kernel memory handed from one run to the next when they never overlap (the auto search's
 * trials on one thread): the next run's parameters land in pages the last one already touched,
 * where fresh ones cost 0.36–0.41 s per 139 MB on the development machine (debtags' W1) against
 * 0.05 s reused (npm run bench:memory).
 */
export class KernelMemorySlot {
  memory: KernelMemory | null = null;
}

import { softmaxInto } from './softmax.js';

/**
 * One example's candidate set C(x), in flat arrays indexed by candidate slot.
 * Student logits are s_c = q(x)·v_c / τ.
 */
export interface CandidateSet {
  n: number;
  scores: Float32Array; // [n] student logits
  logQ: Float32Array; // [n] log expected sampling count; 0 for positives and hard negatives
  positive: Uint8Array; // [n] 1 for a true label
  teacher: Float32Array; // [n] teacher logits, valid where scored[c] = 1
  scored: Uint8Array; // [n] 1 where the teacher scored the pair
}

export interface LossParts {
  total: number;
  ce: number;
  kl: number;
}

/**
 * loss = (1-α)·CE(positives, softmax_C(s − log q)) + α·T²·KL(p^t_T ‖ p^s_T)
 *
 * The CE target spreads mass 1/|P| over the positives (the multi-label softmax of XC
 * literature). The KL term runs over the teacher-scored candidates (positives and hard
 * negatives); random and in-batch negatives carry no teacher score. T² keeps the KL gradient's
 * scale independent of T (Hinton et al. 2015).
 */
export class DistillationObjective {
  private zs: Float32Array;
  private ps: Float32Array;
  private sSub: Float32Array;
  private tSub: Float32Array;
  private pSub: Float32Array;
  private qSub: Float32Array;
  private subIndex: Int32Array;

  constructor(
    readonly alpha: number,
    readonly temperature: number,
    capacity = 256,
  ) {
    this.zs = new Float32Array(capacity);
    this.ps = new Float32Array(capacity);
    this.sSub = new Float32Array(capacity);
    this.tSub = new Float32Array(capacity);
    this.pSub = new Float32Array(capacity);
    this.qSub = new Float32Array(capacity);
    this.subIndex = new Int32Array(capacity);
  }

  /** Returns the loss and writes dLoss/ds_c into grad[0..n). */
  forward(c: CandidateSet, grad: Float32Array, parts?: LossParts): number {
    const n = c.n;
    if (n > this.zs.length) this.grow(n);
    for (let i = 0; i < n; i++) grad[i] = 0;
    const alpha = this.alpha;
    let ce = 0;
    let kl = 0;

    if (alpha < 1) {
      let numPos = 0;
      for (let i = 0; i < n; i++) numPos += c.positive[i];
      if (numPos > 0) {
        const z = this.zs;
        for (let i = 0; i < n; i++) z[i] = c.scores[i] - c.logQ[i];
        const lse = softmaxInto(z, n, 1, this.ps);
        const w = 1 / numPos;
        for (let i = 0; i < n; i++) {
          const target = c.positive[i] ? w : 0;
          if (c.positive[i]) ce += w * (lse - z[i]);
          grad[i] += (1 - alpha) * (this.ps[i] - target);
        }
      }
    }

    if (alpha > 0) {
      let m = 0;
      for (let i = 0; i < n; i++) {
        if (!c.scored[i]) continue;
        this.subIndex[m] = i;
        this.sSub[m] = c.scores[i];
        this.tSub[m] = c.teacher[i];
        m++;
      }
      if (m >= 2) {
        const T = this.temperature;
        const invT = 1 / T;
        const lseS = softmaxInto(this.sSub, m, invT, this.pSub);
        const lseT = softmaxInto(this.tSub, m, invT, this.qSub);
        for (let j = 0; j < m; j++) {
          const pt = this.qSub[j];
          if (pt > 0) kl += pt * (this.tSub[j] * invT - lseT - (this.sSub[j] * invT - lseS));
          grad[this.subIndex[j]] += alpha * T * (this.pSub[j] - pt);
        }
        kl *= T * T;
      }
    }

    const total = (1 - alpha) * ce + alpha * kl;
    if (parts) {
      parts.total = total;
      parts.ce = ce;
      parts.kl = kl;
    }
    return total;
  }

  private grow(n: number): void {
    const cap = Math.max(n, this.zs.length * 2);
    this.zs = new Float32Array(cap);
    this.ps = new Float32Array(cap);
    this.sSub = new Float32Array(cap);
    this.tSub = new Float32Array(cap);
    this.pSub = new Float32Array(cap);
    this.qSub = new Float32Array(cap);
    this.subIndex = new Int32Array(cap);
  }
}

;; The training step's inner loops over f32 vectors, four lanes at a time (WebAssembly SIMD).
;; Every address is a byte offset into the imported shared memory, 4-byte aligned; n is the length
;; in floats, any n (a scalar tail takes n mod 4). Built into kernels-wasm.ts by
;; `npm run build:kernels`; test/simd-kernels.test.ts checks both against plain loops.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Σ x[i]·y[i], in eight f32 partial sums.
  (func $dot (export "dot") (param $x i32) (param $y i32) (param $n i32) (result f32)
    (local $end i32) (local $end8 i32) (local $s0 v128) (local $s1 v128) (local $s f32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end8 (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $done8 (loop $l8
      (br_if $done8 (i32.ge_u (local.get $x) (local.get $end8)))
      (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (v128.load (local.get $x)) (v128.load (local.get $y)))))
      (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (v128.load offset=16 (local.get $x)) (v128.load offset=16 (local.get $y)))))
      (local.set $x (i32.add (local.get $x) (i32.const 32)))
      (local.set $y (i32.add (local.get $y) (i32.const 32)))
      (br $l8)))
    (local.set $s0 (f32x4.add (local.get $s0) (local.get $s1)))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $s0)) (f32x4.extract_lane 1 (local.get $s0)))
      (f32.add (f32x4.extract_lane 2 (local.get $s0)) (f32x4.extract_lane 3 (local.get $s0)))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (local.get $x)) (f32.load (local.get $y)))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (br $l)))
    (local.get $s))

  ;; y[i] += a·x[i]
  (func $axpy (export "axpy") (param $y i32) (param $x i32) (param $a f32) (param $n i32)
    (local $end i32) (local $end4 i32) (local $av v128)
    (local.set $av (f32x4.splat (local.get $a)))
    (local.set $end (i32.add (local.get $y) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $y) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4 (loop $l4
      (br_if $done4 (i32.ge_u (local.get $y) (local.get $end4)))
      (v128.store (local.get $y) (f32x4.add (v128.load (local.get $y)) (f32x4.mul (local.get $av) (v128.load (local.get $x)))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (br $l4)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
      (f32.store (local.get $y) (f32.add (f32.load (local.get $y)) (f32.mul (local.get $a) (f32.load (local.get $x)))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (br $l))))

  ;; y[i] *= a
  (func (export "scale") (param $y i32) (param $a f32) (param $n i32)
    (local $end i32) (local $end4 i32) (local $av v128)
    (local.set $av (f32x4.splat (local.get $a)))
    (local.set $end (i32.add (local.get $y) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $y) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4 (loop $l4
      (br_if $done4 (i32.ge_u (local.get $y) (local.get $end4)))
      (v128.store (local.get $y) (f32x4.mul (local.get $av) (v128.load (local.get $y))))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (br $l4)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
      (f32.store (local.get $y) (f32.mul (local.get $a) (f32.load (local.get $y))))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (br $l))))

  ;; y[i] += a0·x0[i] + a1·x1[i]: two rows per pass over y
  (func $axpy2 (export "axpy2") (param $y i32) (param $x0 i32) (param $x1 i32) (param $a0 f32) (param $a1 f32) (param $n i32)
    (local $end i32) (local $end4 i32) (local $v0 v128) (local $v1 v128)
    (local.set $v0 (f32x4.splat (local.get $a0)))
    (local.set $v1 (f32x4.splat (local.get $a1)))
    (local.set $end (i32.add (local.get $y) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $y) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4 (loop $l4
      (br_if $done4 (i32.ge_u (local.get $y) (local.get $end4)))
      (v128.store (local.get $y) (f32x4.add (v128.load (local.get $y))
        (f32x4.add (f32x4.mul (local.get $v0) (v128.load (local.get $x0))) (f32x4.mul (local.get $v1) (v128.load (local.get $x1))))))
      (local.set $x0 (i32.add (local.get $x0) (i32.const 16)))
      (local.set $x1 (i32.add (local.get $x1) (i32.const 16)))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (br $l4)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
      (f32.store (local.get $y) (f32.add (f32.load (local.get $y))
        (f32.add (f32.mul (local.get $a0) (f32.load (local.get $x0))) (f32.mul (local.get $a1) (f32.load (local.get $x1))))))
      (local.set $x0 (i32.add (local.get $x0) (i32.const 4)))
      (local.set $x1 (i32.add (local.get $x1) (i32.const 4)))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (br $l))))

  ;; Per-coordinate Adagrad: g = scale·grad[i]; a[i] += g²; p[i] -= lr·g / (√a[i] + 1e-8); eight floats a pass (two
  ;; independent chains of square root and division), then four, then one
  (func $adagrad (export "adagrad") (param $p i32) (param $a i32) (param $g i32) (param $scale f32) (param $lr f32) (param $n i32)
    (local $end i32) (local $end4 i32) (local $end8 i32) (local $gv v128) (local $acc v128) (local $gv1 v128) (local $acc1 v128) (local $sv v128) (local $lv v128) (local $ev v128)
    (local $gs f32) (local $as f32)
    (local.set $sv (f32x4.splat (local.get $scale)))
    (local.set $lv (f32x4.splat (local.get $lr)))
    (local.set $ev (f32x4.splat (f32.const 1e-8)))
    (local.set $end (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $g) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (local.set $end8 (i32.add (local.get $g) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $done8 (loop $l8
      (br_if $done8 (i32.ge_u (local.get $g) (local.get $end8)))
      (local.set $gv (f32x4.mul (local.get $sv) (v128.load (local.get $g))))
      (local.set $gv1 (f32x4.mul (local.get $sv) (v128.load offset=16 (local.get $g))))
      (local.set $acc (f32x4.add (v128.load (local.get $a)) (f32x4.mul (local.get $gv) (local.get $gv))))
      (local.set $acc1 (f32x4.add (v128.load offset=16 (local.get $a)) (f32x4.mul (local.get $gv1) (local.get $gv1))))
      (v128.store (local.get $a) (local.get $acc))
      (v128.store offset=16 (local.get $a) (local.get $acc1))
      (v128.store (local.get $p) (f32x4.sub (v128.load (local.get $p))
        (f32x4.div (f32x4.mul (local.get $lv) (local.get $gv)) (f32x4.add (f32x4.sqrt (local.get $acc)) (local.get $ev)))))
      (v128.store offset=16 (local.get $p) (f32x4.sub (v128.load offset=16 (local.get $p))
        (f32x4.div (f32x4.mul (local.get $lv) (local.get $gv1)) (f32x4.add (f32x4.sqrt (local.get $acc1)) (local.get $ev)))))
      (local.set $g (i32.add (local.get $g) (i32.const 32)))
      (local.set $a (i32.add (local.get $a) (i32.const 32)))
      (local.set $p (i32.add (local.get $p) (i32.const 32)))
      (br $l8)))
    (block $done4 (loop $l4
      (br_if $done4 (i32.ge_u (local.get $g) (local.get $end4)))
      (local.set $gv (f32x4.mul (local.get $sv) (v128.load (local.get $g))))
      (local.set $acc (f32x4.add (v128.load (local.get $a)) (f32x4.mul (local.get $gv) (local.get $gv))))
      (v128.store (local.get $a) (local.get $acc))
      (v128.store (local.get $p) (f32x4.sub (v128.load (local.get $p))
        (f32x4.div (f32x4.mul (local.get $lv) (local.get $gv)) (f32x4.add (f32x4.sqrt (local.get $acc)) (local.get $ev)))))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l4)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $g) (local.get $end)))
      (local.set $gs (f32.mul (local.get $scale) (f32.load (local.get $g))))
      (local.set $as (f32.add (f32.load (local.get $a)) (f32.mul (local.get $gs) (local.get $gs))))
      (f32.store (local.get $a) (local.get $as))
      (f32.store (local.get $p) (f32.sub (f32.load (local.get $p))
        (f32.div (f32.mul (local.get $lr) (local.get $gs)) (f32.add (f32.sqrt (local.get $as)) (f32.const 1e-8)))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $l))))

  ;; The batched steps of one training example: one call each instead of one per row. Row r of a
  ;; [rows, d] table at $base is at $base + 4·d·r; $rows holds i32 row ids. Their rounding is the
  ;; per-row calls' made from JavaScript (a double times a float, stored as a float), bit for bit.

  ;; y[i] = 0, i < n
  (func $zero (param $y i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $y) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
      (f32.store (local.get $y) (f32.const 0))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (br $l))))

  ;; q = Σ_p vals[p]·W1[feats[p]], two rows per pass as the per-row calls pair them; returns q · q
  (func (export "encode") (param $q i32) (param $W1 i32) (param $feats i32) (param $vals i32) (param $nnz i32) (param $d i32) (result f32)
    (local $p i32) (local $stride i32)
    (local.set $stride (i32.shl (local.get $d) (i32.const 2)))
    (call $zero (local.get $q) (local.get $d))
    (block $pd (loop $pl
      (br_if $pd (i32.ge_u (i32.add (local.get $p) (i32.const 1)) (local.get $nnz)))
      (call $axpy2 (local.get $q)
        (i32.add (local.get $W1) (i32.mul (local.get $stride) (i32.load (i32.add (local.get $feats) (i32.shl (local.get $p) (i32.const 2))))))
        (i32.add (local.get $W1) (i32.mul (local.get $stride) (i32.load offset=4 (i32.add (local.get $feats) (i32.shl (local.get $p) (i32.const 2))))))
        (f32.load (i32.add (local.get $vals) (i32.shl (local.get $p) (i32.const 2))))
        (f32.load offset=4 (i32.add (local.get $vals) (i32.shl (local.get $p) (i32.const 2))))
        (local.get $d))
      (local.set $p (i32.add (local.get $p) (i32.const 2)))
      (br $pl)))
    (if (i32.lt_u (local.get $p) (local.get $nnz))
      (then
        (call $axpy (local.get $q)
          (i32.add (local.get $W1) (i32.mul (local.get $stride) (i32.load (i32.add (local.get $feats) (i32.shl (local.get $p) (i32.const 2))))))
          (f32.load (i32.add (local.get $vals) (i32.shl (local.get $p) (i32.const 2))))
          (local.get $d))))
    (call $dot (local.get $q) (local.get $q) (local.get $d)))

  ;; out[c] = f32(f64(q · row rows[c] of $base) · scale), c < n: the candidates' scores
  (func (export "dots") (param $out i32) (param $q i32) (param $base i32) (param $rows i32) (param $n i32) (param $d i32) (param $scale f64)
    (local $c i32) (local $stride i32)
    (local.set $stride (i32.shl (local.get $d) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $c) (local.get $n)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 2)))
        (f32.demote_f64 (f64.mul (local.get $scale) (f64.promote_f32
          (call $dot (local.get $q) (i32.add (local.get $base) (i32.mul (local.get $stride) (i32.load (i32.add (local.get $rows) (i32.shl (local.get $c) (i32.const 2)))))) (local.get $d))))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $l))))

  ;; The backward pass of one example, as StudentTrainer's per-row steps do it:
  ;; dq = Σ_c f32(grads[c]·invTau)·V[rows[c]] over the candidates with a gradient, two rows per pass (V before its update);
  ;; Adagrad on each of those V rows with gradient f32(grads[c]·invTau)·q;
  ;; then, when invNorm > 0, du[j] = (dq[j] − q[j]·(q·dq)) · invNorm for j < e (in doubles, q·dq over j < e) and
  ;; Adagrad on each input row feats[p] with gradient vals[p]·du, p < nnz.
  (func (export "backward")
    (param $q i32) (param $dq i32) (param $du i32) (param $d i32)
    (param $V i32) (param $AV i32) (param $rows i32) (param $grads i32) (param $n i32) (param $invTau f64) (param $lrV f32)
    (param $W1 i32) (param $AW1 i32) (param $feats i32) (param $vals i32) (param $nnz i32) (param $lrW f32)
    (param $e i32) (param $invNorm f64)
    (local $c i32) (local $pending i32) (local $stride i32) (local $g f32) (local $g64 f64) (local $row i32) (local $qdq f64) (local $j i32)
    (local.set $stride (i32.shl (local.get $d) (i32.const 2)))
    (call $zero (local.get $dq) (local.get $d))
    ;; dq: the candidates with a gradient, in pairs
    (local.set $pending (i32.const -1))
    (block $qd (loop $ql
      (br_if $qd (i32.ge_u (local.get $c) (local.get $n)))
      (local.set $g (f32.load (i32.add (local.get $grads) (i32.shl (local.get $c) (i32.const 2)))))
      (if (f32.ne (local.get $g) (f32.const 0))
        (then
          (if (i32.lt_s (local.get $pending) (i32.const 0))
            (then (local.set $pending (local.get $c)))
            (else
              (call $axpy2 (local.get $dq)
                (i32.add (local.get $V) (i32.mul (local.get $stride) (i32.load (i32.add (local.get $rows) (i32.shl (local.get $pending) (i32.const 2))))))
                (i32.add (local.get $V) (i32.mul (local.get $stride) (i32.load (i32.add (local.get $rows) (i32.shl (local.get $c) (i32.const 2))))))
                (f32.demote_f64 (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $grads) (i32.shl (local.get $pending) (i32.const 2))))) (local.get $invTau)))
                (f32.demote_f64 (f64.mul (f64.promote_f32 (local.get $g)) (local.get $invTau)))
                (local.get $d))
              (local.set $pending (i32.const -1))))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $ql)))
    (if (i32.ge_s (local.get $pending) (i32.const 0))
      (then
        (call $axpy (local.get $dq)
          (i32.add (local.get $V) (i32.mul (local.get $stride) (i32.load (i32.add (local.get $rows) (i32.shl (local.get $pending) (i32.const 2))))))
          (f32.demote_f64 (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $grads) (i32.shl (local.get $pending) (i32.const 2))))) (local.get $invTau)))
          (local.get $d))))
    ;; the V rows
    (local.set $c (i32.const 0))
    (block $vd (loop $vl
      (br_if $vd (i32.ge_u (local.get $c) (local.get $n)))
      (local.set $g64 (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $grads) (i32.shl (local.get $c) (i32.const 2))))) (local.get $invTau)))
      (if (f64.ne (local.get $g64) (f64.const 0))
        (then
          (local.set $row (i32.mul (local.get $stride) (i32.load (i32.add (local.get $rows) (i32.shl (local.get $c) (i32.const 2))))))
          (call $adagrad (i32.add (local.get $V) (local.get $row)) (i32.add (local.get $AV) (local.get $row)) (local.get $q) (f32.demote_f64 (local.get $g64)) (local.get $lrV) (local.get $d))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $vl)))
    (if (f64.gt (local.get $invNorm) (f64.const 0))
      (then
        ;; qdq = Σ_{j<e} q[j]·dq[j] in doubles
        (local.set $j (i32.const 0))
        (block $pd (loop $pl
          (br_if $pd (i32.ge_u (local.get $j) (local.get $e)))
          (local.set $qdq (f64.add (local.get $qdq) (f64.mul
            (f64.promote_f32 (f32.load (i32.add (local.get $q) (i32.shl (local.get $j) (i32.const 2)))))
            (f64.promote_f32 (f32.load (i32.add (local.get $dq) (i32.shl (local.get $j) (i32.const 2))))))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $pl)))
        (local.set $j (i32.const 0))
        (block $ud (loop $ul
          (br_if $ud (i32.ge_u (local.get $j) (local.get $e)))
          (f32.store (i32.add (local.get $du) (i32.shl (local.get $j) (i32.const 2)))
            (f32.demote_f64 (f64.mul (local.get $invNorm) (f64.sub
              (f64.promote_f32 (f32.load (i32.add (local.get $dq) (i32.shl (local.get $j) (i32.const 2)))))
              (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $q) (i32.shl (local.get $j) (i32.const 2))))) (local.get $qdq))))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $ul)))
        ;; the input rows
        (local.set $c (i32.const 0))
        (block $wd (loop $wl
          (br_if $wd (i32.ge_u (local.get $c) (local.get $nnz)))
          (local.set $row (i32.mul (local.get $stride) (i32.load (i32.add (local.get $feats) (i32.shl (local.get $c) (i32.const 2))))))
          (call $adagrad (i32.add (local.get $W1) (local.get $row)) (i32.add (local.get $AW1) (local.get $row)) (local.get $du)
            (f32.load (i32.add (local.get $vals) (i32.shl (local.get $c) (i32.const 2)))) (local.get $lrW) (local.get $d))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $wl))))))

  ;; Student.encodeAll's rows (not the training step's encoding): with JavaScript's rounding of sparseRowTimesDenseInto
  ;; and scaleToUnitInto bit for bit, two floats a pass in doubles. Per row r < $rows, its nonzeros feats/vals
  ;; [indptr[r], indptr[r+1]) (i32 offsets into those arrays): out_r = f32(out_r + ((x0·w0 + x1·w1) + x2·w2) + x3·w3) four
  ;; rows of W1 a pass, then one; the norm √Σ out_r[j]² summed in order in doubles; out_r = f32(out_r · (1/norm)) unless the
  ;; norm is 0; with $bias the last slot set to 1.
  (func (export "encodeRows") (param $out i32) (param $W1 i32) (param $indptr i32) (param $feats i32) (param $vals i32) (param $rows i32) (param $d i32) (param $bias i32)
    (local $r i32) (local $p i32) (local $end i32) (local $o i32) (local $stride i32) (local $pairs i32) (local $q i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $b0 i32) (local $b1 i32) (local $b2 i32) (local $b3 i32)
    (local $ss f64) (local $inv f64) (local $v f64)
    (local.set $stride (i32.shl (local.get $d) (i32.const 2)))
    (local.set $pairs (i32.shl (i32.shr_u (local.get $d) (i32.const 1)) (i32.const 3))) ;; bytes in whole pairs of floats
    (block $rd (loop $rl
      (br_if $rd (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $q (i32.add (local.get $out) (i32.mul (local.get $r) (local.get $stride))))
      (call $zero (local.get $q) (local.get $d))
      (local.set $p (i32.load (i32.add (local.get $indptr) (i32.shl (local.get $r) (i32.const 2)))))
      (local.set $end (i32.load offset=4 (i32.add (local.get $indptr) (i32.shl (local.get $r) (i32.const 2)))))
      ;; four rows of W1 a pass
      (block $fd (loop $fl
        (br_if $fd (i32.ge_s (i32.add (local.get $p) (i32.const 3)) (local.get $end)))
        (local.set $x0 (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $vals) (i32.shl (local.get $p) (i32.const 2)))))))
        (local.set $x1 (f64x2.splat (f64.promote_f32 (f32.load offset=4 (i32.add (local.get $vals) (i32.shl (local.get $p) (i32.const 2)))))))
        (local.set $x2 (f64x2.splat (f64.promote_f32 (f32.load offset=8 (i32.add (local.get $vals) (i32.shl (local.get $p) (i32.const 2)))))))
        (local.set $x3 (f64x2.splat (f64.promote_f32 (f32.load offset=12 (i32.add (local.get $vals) (i32.shl (local.get $p) (i32.const 2)))))))
        (local.set $b0 (i32.add (local.get $W1) (i32.mul (local.get $stride) (i32.load (i32.add (local.get $feats) (i32.shl (local.get $p) (i32.const 2)))))))
        (local.set $b1 (i32.add (local.get $W1) (i32.mul (local.get $stride) (i32.load offset=4 (i32.add (local.get $feats) (i32.shl (local.get $p) (i32.const 2)))))))
        (local.set $b2 (i32.add (local.get $W1) (i32.mul (local.get $stride) (i32.load offset=8 (i32.add (local.get $feats) (i32.shl (local.get $p) (i32.const 2)))))))
        (local.set $b3 (i32.add (local.get $W1) (i32.mul (local.get $stride) (i32.load offset=12 (i32.add (local.get $feats) (i32.shl (local.get $p) (i32.const 2)))))))
        (local.set $o (i32.const 0))
        (block $jd (loop $jl
          (br_if $jd (i32.ge_u (local.get $o) (local.get $pairs)))
          (v128.store64_lane 0 (i32.add (local.get $q) (local.get $o))
            (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $q) (local.get $o))))
              (f64x2.add (f64x2.add (f64x2.add
                (f64x2.mul (local.get $x0) (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $b0) (local.get $o)))))
                (f64x2.mul (local.get $x1) (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $b1) (local.get $o))))))
                (f64x2.mul (local.get $x2) (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $b2) (local.get $o))))))
                (f64x2.mul (local.get $x3) (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $b3) (local.get $o)))))))))
          (local.set $o (i32.add (local.get $o) (i32.const 8)))
          (br $jl)))
        (if (i32.lt_u (local.get $o) (local.get $stride)) ;; an odd d: its last float alone
          (then
            (f32.store (i32.add (local.get $q) (local.get $o))
              (f32.demote_f64 (f64.add (f64.promote_f32 (f32.load (i32.add (local.get $q) (local.get $o))))
                (f64.add (f64.add (f64.add
                  (f64.mul (f64x2.extract_lane 0 (local.get $x0)) (f64.promote_f32 (f32.load (i32.add (local.get $b0) (local.get $o)))))
                  (f64.mul (f64x2.extract_lane 0 (local.get $x1)) (f64.promote_f32 (f32.load (i32.add (local.get $b1) (local.get $o))))))
                  (f64.mul (f64x2.extract_lane 0 (local.get $x2)) (f64.promote_f32 (f32.load (i32.add (local.get $b2) (local.get $o))))))
                  (f64.mul (f64x2.extract_lane 0 (local.get $x3)) (f64.promote_f32 (f32.load (i32.add (local.get $b3) (local.get $o)))))))))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $fl)))
      ;; the rest, one row of W1 a pass
      (block $td (loop $tl
        (br_if $td (i32.ge_s (local.get $p) (local.get $end)))
        (local.set $x0 (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $vals) (i32.shl (local.get $p) (i32.const 2)))))))
        (local.set $b0 (i32.add (local.get $W1) (i32.mul (local.get $stride) (i32.load (i32.add (local.get $feats) (i32.shl (local.get $p) (i32.const 2)))))))
        (local.set $o (i32.const 0))
        (block $ud (loop $ul
          (br_if $ud (i32.ge_u (local.get $o) (local.get $pairs)))
          (v128.store64_lane 0 (i32.add (local.get $q) (local.get $o))
            (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $q) (local.get $o))))
              (f64x2.mul (local.get $x0) (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $b0) (local.get $o))))))))
          (local.set $o (i32.add (local.get $o) (i32.const 8)))
          (br $ul)))
        (if (i32.lt_u (local.get $o) (local.get $stride))
          (then
            (f32.store (i32.add (local.get $q) (local.get $o))
              (f32.demote_f64 (f64.add (f64.promote_f32 (f32.load (i32.add (local.get $q) (local.get $o))))
                (f64.mul (f64x2.extract_lane 0 (local.get $x0)) (f64.promote_f32 (f32.load (i32.add (local.get $b0) (local.get $o))))))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $tl)))
      ;; the norm, summed in order in doubles, then the scaling
      (local.set $ss (f64.const 0))
      (local.set $o (i32.const 0))
      (block $nd (loop $nl
        (br_if $nd (i32.ge_u (local.get $o) (local.get $stride)))
        (local.set $v (f64.promote_f32 (f32.load (i32.add (local.get $q) (local.get $o)))))
        (local.set $ss (f64.add (local.get $ss) (f64.mul (local.get $v) (local.get $v))))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $nl)))
      (if (f64.gt (local.get $ss) (f64.const 0))
        (then
          (local.set $inv (f64.div (f64.const 1) (f64.sqrt (local.get $ss))))
          (local.set $o (i32.const 0))
          (block $sd (loop $sl
            (br_if $sd (i32.ge_u (local.get $o) (local.get $stride)))
            (f32.store (i32.add (local.get $q) (local.get $o)) (f32.demote_f64 (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $q) (local.get $o)))) (local.get $inv))))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (br $sl)))))
      (if (local.get $bias) (then (f32.store (i32.sub (i32.add (local.get $q) (local.get $stride)) (i32.const 4)) (f32.const 1))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))
)

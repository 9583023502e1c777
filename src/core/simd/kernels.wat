;; The training step's inner loops over f32 vectors, four lanes at a time (WebAssembly SIMD).
;; Every address is a byte offset into the imported shared memory, 4-byte aligned; n is the length
;; in floats, any n (a scalar tail takes n mod 4). Built into kernels-wasm.ts by
;; `npm run build:kernels`; test/simd-kernels.test.ts checks both against plain loops.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Σ x[i]·y[i], in eight f32 partial sums.
  (func (export "dot") (param $x i32) (param $y i32) (param $n i32) (result f32)
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
  (func (export "axpy") (param $y i32) (param $x i32) (param $a f32) (param $n i32)
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
  (func (export "axpy2") (param $y i32) (param $x0 i32) (param $x1 i32) (param $a0 f32) (param $a1 f32) (param $n i32)
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

  ;; Per-coordinate Adagrad: g = scale·grad[i]; a[i] += g²; p[i] -= lr·g / (√a[i] + 1e-8)
  (func (export "adagrad") (param $p i32) (param $a i32) (param $g i32) (param $scale f32) (param $lr f32) (param $n i32)
    (local $end i32) (local $end4 i32) (local $gv v128) (local $acc v128) (local $sv v128) (local $lv v128) (local $ev v128)
    (local $gs f32) (local $as f32)
    (local.set $sv (f32x4.splat (local.get $scale)))
    (local.set $lv (f32x4.splat (local.get $lr)))
    (local.set $ev (f32x4.splat (f32.const 1e-8)))
    (local.set $end (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $g) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
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
)

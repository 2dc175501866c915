//! GEMM throughput, shared by the native bench (`benches/gemm.rs`) and the wasm bench page
//! (`bench_gemm` in the wasm build): the same shapes and calls, timed by the caller's clock.
//!
//! Shapes: 512³ (the comparison with ONNX Runtime Web) and the 784-100-100-10 MLP's
//! three layers at batch 1 and 256, plus the whole int8 forward (three packed GEMMs, each
//! followed by requantization to u8) at both batch sizes. Ops are counted as 2·m·n·k.

use super::{gemm_f32, gemm_f32_packed, matmul_integer, matmul_integer_packed, requantize_u8, PackedF32B, PackedI8B};
use serde::Serialize;

/// One measured case.
#[derive(Debug, Clone, Serialize)]
pub struct GemmThroughput {
    /// e.g. `int8 512x512x512`, `int8 mlp m=1`.
    pub case: String,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// Microseconds per call (fastest of the repetitions).
    pub micros: f64,
    /// 10⁹ ops per second, 2·m·n·k ops per GEMM.
    pub gop_s: f64,
}

/// The MLP's layers (k, n).
pub const MLP: [(usize, usize); 3] = [(784, 100), (100, 100), (100, 10)];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

fn bytes<T>(len: usize, seed: u64, f: impl Fn(u32) -> T) -> Vec<T> {
    let mut r = Rng(seed);
    (0..len).map(|_| f(r.next())).collect()
}

/// Times `f`: calls it in batches long enough to span `min_ms`, `reps` times, and returns the
/// fastest time per call in microseconds.
fn time_us(now_ms: &dyn Fn() -> f64, min_ms: f64, reps: usize, f: &mut dyn FnMut()) -> f64 {
    f(); // warm up (V8 tiers up hot wasm functions; caches fill)
    let mut calls = 1usize;
    loop {
        let t0 = now_ms();
        for _ in 0..calls {
            f();
        }
        let dt = now_ms() - t0;
        if dt >= min_ms || calls >= 1 << 24 {
            break;
        }
        calls = (calls * 2).max((calls as f64 * min_ms / dt.max(1e-3)) as usize);
    }
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t0 = now_ms();
        for _ in 0..calls {
            f();
        }
        best = best.min((now_ms() - t0) / calls as f64);
    }
    best * 1e3
}

/// Runs every case. `min_ms` is the least time one timed batch runs (the page uses ~50 ms,
/// the native bench more); the fastest of `reps` batches counts.
pub fn bench_gemm(now_ms: &dyn Fn() -> f64, min_ms: f64, reps: usize) -> Vec<GemmThroughput> {
    let mut out = Vec::new();
    let mut push = |case: String, (m, k, n): (usize, usize, usize), ops: f64, micros: f64| {
        out.push(GemmThroughput { case, m, k, n, micros, gop_s: ops / micros / 1e3 });
    };
    let ops = |m: usize, k: usize, n: usize| 2.0 * (m * k * n) as f64;

    // 512³: packed B (weights), and B packed inside the call.
    let s = 512;
    let a: Vec<u8> = bytes(s * s, 1, |x| x as u8);
    let b: Vec<i8> = bytes(s * s, 2, |x| x as i8);
    let pb = PackedI8B::new(s, s, &b, &[3]);
    let mut c = vec![0i32; s * s];
    let t = time_us(now_ms, min_ms, reps, &mut || matmul_integer_packed(s, &a, &[128], &pb, &mut c));
    push(format!("int8 {s}x{s}x{s} packed"), (s, s, s), ops(s, s, s), t);
    let t = time_us(now_ms, min_ms, reps, &mut || matmul_integer(s, s, s, &a, &[128], &b, &[3], &mut c));
    push(format!("int8 {s}x{s}x{s}"), (s, s, s), ops(s, s, s), t);
    let af: Vec<f32> = bytes(s * s, 3, |x| x as f32 / u32::MAX as f32 - 0.5);
    let bf: Vec<f32> = bytes(s * s, 4, |x| x as f32 / u32::MAX as f32 - 0.5);
    let pbf = PackedF32B::new(s, s, &bf);
    let mut cf = vec![0f32; s * s];
    let t = time_us(now_ms, min_ms, reps, &mut || gemm_f32_packed(s, &af, &pbf, &mut cf));
    push(format!("f32 {s}x{s}x{s} packed"), (s, s, s), ops(s, s, s), t);
    let t = time_us(now_ms, min_ms, reps, &mut || gemm_f32(s, s, s, &af, &bf, &mut cf));
    push(format!("f32 {s}x{s}x{s}"), (s, s, s), ops(s, s, s), t);

    // The MLP, layer by layer and whole, at batch 1 and 256.
    let weights: Vec<(Vec<i8>, Vec<f32>)> = MLP
        .iter()
        .enumerate()
        .map(|(i, &(k, n))| (bytes(k * n, 10 + i as u64, |x| x as i8), bytes(k * n, 20 + i as u64, |x| x as f32 / u32::MAX as f32 - 0.5)))
        .collect();
    let packed: Vec<(PackedI8B, PackedF32B)> =
        MLP.iter().zip(&weights).map(|(&(k, n), (w, wf))| (PackedI8B::new(k, n, w, &[0]), PackedF32B::new(k, n, wf))).collect();
    for m in [1, 256] {
        let mut mlp_ops = 0.0;
        for (&(k, n), (pw, pwf)) in MLP.iter().zip(&packed) {
            let a: Vec<u8> = bytes(m * k, 5, |x| x as u8);
            let af: Vec<f32> = bytes(m * k, 6, |x| x as f32 / u32::MAX as f32);
            let mut c = vec![0i32; m * n];
            let mut cf = vec![0f32; m * n];
            let t = time_us(now_ms, min_ms, reps, &mut || matmul_integer_packed(m, &a, &[7], pw, &mut c));
            push(format!("int8 {m}x{k}x{n} packed"), (m, k, n), ops(m, k, n), t);
            let t = time_us(now_ms, min_ms, reps, &mut || gemm_f32_packed(m, &af, pwf, &mut cf));
            push(format!("f32 {m}x{k}x{n} packed"), (m, k, n), ops(m, k, n), t);
            mlp_ops += ops(m, k, n);
        }
        // The int8 forward: u8 activations, i8 weights, requantized to u8 between layers.
        let x: Vec<u8> = bytes(m * MLP[0].0, 8, |x| x as u8);
        let mut acts: Vec<Vec<u8>> = MLP.iter().map(|&(_, n)| vec![0u8; m * n]).collect();
        let mut accs: Vec<Vec<i32>> = MLP.iter().map(|&(_, n)| vec![0i32; m * n]).collect();
        let t = time_us(now_ms, min_ms, reps, &mut || {
            for l in 0..MLP.len() {
                let (done, rest) = acts.split_at_mut(l);
                let input: &[u8] = if l == 0 { &x } else { &done[l - 1] };
                matmul_integer_packed(m, input, &[3], &packed[l].0, &mut accs[l]);
                requantize_u8(&accs[l], &[1.0 / 4096.0], 5, &mut rest[0]);
            }
        });
        push(format!("int8 mlp 784-100-100-10 m={m}"), (m, 784, 10), mlp_ops, t);
    }
    out
}

//! Q4_1 and Q5_1 weights × Q8_1 activations (src/llm/src/legacy.rs: the blocks unpacked at load,
//! `quantize_activations_q8_1`, and the kernel `kernels::q8_1_matvec`): held to ggml's formula
//! written out here from the packed blocks — per block d_w·d_x·Σ q_w·q_x + m_w·s_x, with Q8_1's
//! s_x = f16(amax/127 · Σ q_x) (`ggml_vec_dot_q4_1_q8_1`, x86 `quantize_row_q8_1`) — summed in
//! f64. The f32 product differs from it only by float rounding (held to 2e-7 of the largest of
//! |result| and 1); without s_x's f16 rounding it would be off by 5e-6 to 1.1e-5 here, which the
//! test checks it can tell apart. The unpacked blocks dequantize to ggml's values bit for bit.

use half::f16;
use quantscope_core::schemes::ggml::{dequantize_row, quantize_row, GgmlType};
use quantscope_llm::q8_0::quantize_activations;
use quantscope_llm::{kernels, legacy};

const ROWS: usize = 8;
const COLS: usize = 256;

/// A row's codes 0..=15 / 0..=31 from a Q4_1 / Q5_1 block (`dequantize_row_q4_1`, `_q5_1`).
fn codes(ty: GgmlType, b: &[u8]) -> [i32; 32] {
    let (qh, qs) = if ty == GgmlType::Q4_1 { (0u32, &b[4..20]) } else { (u32::from_le_bytes(b[4..8].try_into().unwrap()), &b[8..24]) };
    std::array::from_fn(|j| {
        let nibble = if j < 16 { qs[j] & 0x0f } else { qs[j - 16] >> 4 } as i32;
        nibble | (((qh >> j) & 1) << 4) as i32
    })
}

fn check(ty: GgmlType) {
    let mut rng = crate::common::Xorshift(0x9e37_79b9);
    let mut uniform = || (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
    // Weights offset from 0, so that the blocks' mins m_w are large, and activations of both signs.
    let w: Vec<f32> = (0..ROWS * COLS).map(|_| (0.3 + uniform()) as f32).collect();
    let x: Vec<f32> = (0..COLS).map(|_| (uniform() * 4.0 - 1.0) as f32).collect();
    let block_bytes = ty.block_bytes();
    let mut packed = vec![0u8; ROWS * COLS / 32 * block_bytes];
    quantize_row(ty, &w, &mut packed);
    let mut dequantized = vec![0f32; ROWS * COLS];
    dequantize_row(ty, &packed, &mut dequantized);
    let blocks = if ty == GgmlType::Q4_1 { legacy::q4_1_unpack(&packed) } else { legacy::q5_1_unpack(&packed) };
    let mut unpacked = vec![0f32; ROWS * COLS];
    legacy::dequantize(&blocks, &mut unpacked);
    assert_eq!(unpacked.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), dequantized.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    let (xq, s) = legacy::quantize_activations_q8_1(&x);
    let mut ours = vec![0f32; ROWS];
    kernels::q8_1_matvec(&blocks, &xq, &s, &mut ours);

    let acts = quantize_activations(&x);
    let per_row = COLS / 32;
    for r in 0..ROWS {
        let (mut ggml, mut unrounded_s) = (0f64, 0f64);
        for (k, a) in acts.iter().enumerate() {
            let b = &packed[(r * per_row + k) * block_bytes..][..block_bytes];
            let (d, m) = (f16::from_le_bytes([b[0], b[1]]).to_f32() as f64, f16::from_le_bytes([b[2], b[3]]).to_f32() as f64);
            let q = codes(ty, b);
            let dot: i32 = q.iter().zip(&a.qs).map(|(&w, &x)| w * x as i32).sum();
            let sum: i32 = a.qs.iter().map(|&x| x as i32).sum();
            let amax = x[32 * k..32 * k + 32].iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = f16::from_f32(amax / 127.0 * sum as f32).to_f32() as f64;
            ggml += d * a.d as f64 * dot as f64 + m * s;
            unrounded_s += d * a.d as f64 * dot as f64 + m * a.d as f64 * sum as f64;
        }
        let scale = ggml.abs().max(1.0);
        assert!((ours[r] as f64 - ggml).abs() <= 2e-7 * scale, "{ty:?} row {r}: {} against ggml's {ggml}", ours[r]);
        // The f16 rounding of s_x is what the correction models: without it the product is off by
        // much more than float rounding (a check that this test can tell the two apart).
        assert!((unrounded_s - ggml).abs() > 10.0 * 2e-7 * scale, "{ty:?} row {r}: s_x's rounding too small to see");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q4_1_times_q8_1_is_ggml_s_formula() {
    check(GgmlType::Q4_1);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q5_1_times_q8_1_is_ggml_s_formula() {
    check(GgmlType::Q5_1);
}

//! The activation kernels of the quantized ops (`src/engine/src/ops/activation_quant.rs`) against their
//! scalar references, bit for bit, on awkward lengths and awkward values. In Chromium the
//! dispatching functions run the SIMD128 kernels; natively they are the references, so these
//! tests matter in the browser run (and check the references' own definitions natively).

use quantscope_engine::ops::activation_quant::{self as k, reference};

/// Lengths around every vector width the kernels use (4, 16) and the MLP's layers.
const LENGTHS: [usize; 16] = [0, 1, 3, 4, 5, 15, 16, 17, 31, 32, 33, 63, 100, 255, 784, 1000];

struct Rng(crate::common::Xorshift);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next()
    }
    /// Mostly ordinary values, with NaN, ±Inf, ±0, exact .5 ties of the scale and huge values
    /// mixed in.
    fn value(&mut self, scale: f32) -> f32 {
        let r = self.next();
        match r % 23 {
            // NaNs with payloads and either sign: each must quantize to 0.
            0 => f32::from_bits([0x7FC0_0000, 0x7FC0_00FF, 0xFFC0_0001, 0x7F80_0001, 0xFFFF_FFFF][(r >> 8) as usize % 5]),
            1 => f32::INFINITY,
            2 => f32::NEG_INFINITY,
            3 => -0.0,
            4 => 0.0,
            5 => ((r >> 8) % 600) as f32 * 0.5 * scale - 150.0 * scale, // on a tie of x / scale
            6 => f32::MAX * if r & 256 == 0 { 1.0 } else { -1.0 },
            _ => ((r >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * 300.0 * scale,
        }
    }
}

fn inputs() -> Vec<(Vec<f32>, f32)> {
    let mut rng = Rng(crate::common::Xorshift(0x2545_F491_4F6C_DD1D));
    let mut out = Vec::new();
    for &n in &LENGTHS {
        for scale in [1.0f32, 0.0078125, 0.013_725_49, 3.1e-5] {
            out.push(((0..n).map(|_| rng.value(scale)).collect(), scale));
        }
        // A tensor whose extremes sit in the tail past the last whole vector.
        let mut v: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
        if let Some(last) = v.last_mut() {
            *last = -1e6;
        }
        out.push((v, 1.0));
    }
    out
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn range_equals_the_reference_and_ignores_nan() {
    for (x, _) in inputs() {
        let (lo, hi) = k::range(&x);
        let (rlo, rhi) = reference::range(&x);
        assert_eq!((lo.to_bits(), hi.to_bits()), (rlo.to_bits(), rhi.to_bits()), "length {}", x.len());
        assert!(!lo.is_nan() && !hi.is_nan() && lo <= 0.0 && hi >= 0.0);
    }
    assert_eq!(k::range(&[f32::NAN; 9]), (0.0, 0.0));
    assert_eq!(k::range(&[2.0, -3.0, f32::NAN, 5.0, -0.5]), (-3.0, 5.0));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn quantize_u8_equals_the_reference_byte_for_byte() {
    for (x, scale) in inputs() {
        for zp in [0u8, 1, 128, 255] {
            let mut got = vec![0xAAu8; x.len()];
            let mut want = vec![0x55u8; x.len()];
            k::quantize_u8(&x, scale, zp, &mut got);
            reference::quantize_u8(&x, scale, zp, &mut want);
            if let Some(i) = (0..x.len()).find(|&i| got[i] != want[i]) {
                panic!("length {}, scale {scale}, zp {zp}: element {i} ({}) gives {} but the reference {}", x.len(), x[i], got[i], want[i]);
            }
        }
    }
    // The definition itself: ties to even, clamping, NaN → 0.
    let mut q = [0u8; 6];
    reference::quantize_u8(&[0.5, 1.5, -1.0, 1e9, f32::NAN, 2.5], 1.0, 0, &mut q);
    assert_eq!(q, [0, 2, 0, 255, 0, 2]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn rescale_equals_the_reference_bit_for_bit() {
    let mut rng = Rng(crate::common::Xorshift(0x9E37_79B9_7F4A_7C15));
    for n in [1usize, 3, 4, 5, 8, 10, 17, 100] {
        for rows in [0usize, 1, 2, 7] {
            let acc: Vec<i32> = (0..rows * n)
                .map(|i| match i % 5 {
                    0 => i32::MAX - (rng.next() % 3) as i32,
                    1 => i32::MIN,
                    _ => (rng.next() % 2_000_001) as i32 - 1_000_000,
                })
                .collect();
            let mult: Vec<f32> = (0..n).map(|j| 1e-4 * (j as f32 + 0.37)).collect();
            let bias: Vec<f32> = (0..n).map(|j| (j as f32 - 4.5) * 0.11).collect();
            for b in [None, Some(bias.as_slice())] {
                let (mut got, mut want) = (vec![f32::NAN; acc.len()], vec![0.0f32; acc.len()]);
                k::rescale(&acc, &mult, b, &mut got);
                reference::rescale(&acc, &mult, b, &mut want);
                assert_eq!(crate::common::bits(&got), crate::common::bits(&want), "n {n}, rows {rows}, bias {}", b.is_some());
            }
        }
    }
    let mut y = [0.0f32; 4];
    reference::rescale(&[3, -4, 5, 6], &[0.5, 2.0], Some(&[1.0, -1.0]), &mut y);
    assert_eq!(y, [2.5, -9.0, 3.5, 11.0]);
}

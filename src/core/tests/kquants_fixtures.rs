//! The K-quants (q2_k … q6_k) against llama.cpp and gguf-py (fixtures from
//! scripts/fixtures/make_kquants.py): packed bytes equal ggml's `quantize_row_qN_K_ref` output byte
//! for byte, dequantized values equal gguf-py's bit for bit. Then the dispatched (SIMD128 on wasm)
//! dequantize kernels against the scalar reference on seeded random blocks and awkward lengths.

use crate::common::{f32s, hex_bytes, json};
use quantscope_core::schemes::kquants::{dequant, KQuant, QK_K};
use quantscope_core::schemes::{self, Scheme};

fn le_f32s(hex: &str) -> Vec<f32> {
    hex_bytes(hex).chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

/// Panics naming the first differing block (and byte) of two packed tensors.
fn assert_same_blocks(got: &[u8], want: &[u8], block_bytes: usize, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: packed length");
    if let Some(at) = got.iter().zip(want).position(|(a, b)| a != b) {
        let b = at / block_bytes;
        let range = b * block_bytes..(b + 1) * block_bytes;
        panic!(
            "{what}: block {b} differs first at byte {} \n got  {:02x?}\n want {:02x?}",
            at % block_bytes,
            &got[range.clone()],
            &want[range]
        );
    }
}

/// Bitwise equality (NaN equal to NaN, since wasm does not fix NaN payloads), naming the first
/// differing element and its block.
fn assert_same_values(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    if let Some(i) = got.iter().zip(want).position(|(&a, &b)| !same(a, b)) {
        panic!(
            "{what}: element {i} (block {}) is {:e} ({:08x}), want {:e} ({:08x})",
            i / QK_K,
            got[i],
            got[i].to_bits(),
            want[i],
            want[i].to_bits()
        );
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_k_quant_matches_llama_cpp_and_gguf_py() {
    let fixtures = json(fixture_str!("kquants/kquants.json"));
    let inputs = &fixtures["inputs"];
    let cases = fixtures["cases"].as_array().unwrap();
    assert!(cases.len() >= 60, "fixture file looks truncated");
    for case in cases {
        let (input, id) = (case["input"].as_str().unwrap(), case["scheme"].as_str().unwrap());
        let what = format!("{id} on {input}");
        let values = f32s(&inputs[input]["values"]);
        let shape = [values.len()];
        let kind = KQuant::from_id(id).unwrap();
        let scheme = schemes::by_id(id).unwrap();
        let want_packed = hex_bytes(case["packed"].as_str().unwrap());
        let want_deq = le_f32s(case["dequantized"].as_str().unwrap());

        let q = scheme.quantize(&values, &shape).unwrap();
        assert_same_blocks(&q.packed, &want_packed, kind.block_bytes(), &format!("{what}: packed vs llama.cpp"));
        assert_same_values(&q.dequantized, &want_deq, &format!("{what}: dequantized vs gguf-py"));
        let deq = scheme.dequantize(&want_packed, &shape).unwrap();
        assert_same_values(&deq, &want_deq, &format!("{what}: dequantize(llama.cpp bytes) vs gguf-py"));
    }
}

/// xorshift64* — seeded, so failures reproduce on both targets.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f32 {
        ((-2.0 * self.unit().ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()) as f32
    }
    /// Values of varied character: normal at a random scale, with some zeros, ties and outliers.
    fn values(&mut self, n: usize) -> Vec<f32> {
        let scale = 10f32.powi((self.next() % 9) as i32 - 5);
        (0..n)
            .map(|_| match self.next() % 20 {
                0 => 0.0,
                1 => (self.next() % 17) as f32 * 0.5 - 4.0,
                2 => self.normal() * scale * 50.0,
                _ => self.normal() * scale,
            })
            .collect()
    }
}

const AWKWARD: [usize; 9] = [0, 1, 15, 17, 31, 33, 255, 257, 513];

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn dequantize_kernels_equal_the_scalar_reference() {
    type Kernel = fn(&[u8], &mut [f32]);
    // Q2_K, Q3_K and Q5_K through the scheme's dispatch: their SIMD128 kernels with
    // `fast-kernels`, the reference itself otherwise.
    let kernels: [(&str, Kernel, Kernel, usize); 5] = [
        ("q4_k", dequant::dequantize_q4_k, dequant::dequantize_block_q4_k, 144),
        ("q6_k", dequant::dequantize_q6_k, dequant::dequantize_block_q6_k, 210),
        ("q2_k", |p, y| KQuant::Q2K.dequantize_blocks(p, y), dequant::dequantize_block_q2_k, 84),
        ("q3_k", |p, y| KQuant::Q3K.dequantize_blocks(p, y), dequant::dequantize_block_q3_k, 110),
        ("q5_k", |p, y| KQuant::Q5K.dequantize_blocks(p, y), dequant::dequantize_block_q5_k, 176),
    ];
    let mut rng = Rng(0x5EED_0001);
    for (id, kernel, reference, bb) in kernels {
        for blocks in [0usize, 1, 2, 3, 7] {
            for trial in 0..8 {
                // Half the trials: real quantizer output; half: arbitrary bytes (every byte string
                // is a valid block, including NaN/Inf/subnormal f16 scales).
                let packed: Vec<u8> = if trial % 2 == 0 {
                    KQuant::from_id(id).unwrap().quantize(&rng.values(blocks * QK_K), &[blocks * QK_K]).unwrap().packed
                } else {
                    (0..blocks * bb).map(|_| rng.next() as u8).collect()
                };
                let mut got = vec![0f32; blocks * QK_K];
                kernel(&packed, &mut got);
                let mut want = vec![0f32; blocks * QK_K];
                dequant::dequantize_blocks_scalar(reference, bb, &packed, &mut want);
                assert_same_values(&got, &want, &format!("{id} kernel, {blocks} blocks, trial {trial}"));
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn awkward_lengths_pad_and_round_trip() {
    let mut rng = Rng(0x5EED_0002);
    for kind in KQuant::ALL {
        for n in AWKWARD {
            let values = rng.values(n);
            let q = kind.quantize(&values, &[n]).unwrap();
            let blocks = n.div_ceil(QK_K);
            assert_eq!(q.packed.len(), blocks * kind.block_bytes(), "{} n={n}", kind.id());
            assert_eq!(q.dequantized.len(), n);
            // The last block is quantized as if zero-padded.
            let mut padded = values.clone();
            padded.resize(blocks * QK_K, 0.0);
            let qp = kind.quantize(&padded, &[padded.len()]).unwrap();
            assert_same_blocks(&q.packed, &qp.packed, kind.block_bytes(), &format!("{} n={n} vs zero-padded", kind.id()));
            assert_same_values(&q.dequantized, &qp.dequantized[..n], &format!("{} n={n} dequantized", kind.id()));
            let deq = kind.dequantize(&q.packed, &[n]).unwrap();
            assert_same_values(&deq, &q.dequantized, &format!("{} n={n} dequantize(packed)", kind.id()));
            // Every block decodes through the scalar reference to the same values.
            let mut want = vec![0f32; blocks * QK_K];
            for (b, out) in q.packed.chunks_exact(kind.block_bytes()).zip(want.chunks_exact_mut(QK_K)) {
                let block = match kind {
                    KQuant::Q2K => dequant::dequantize_block_q2_k,
                    KQuant::Q3K => dequant::dequantize_block_q3_k,
                    KQuant::Q4K => dequant::dequantize_block_q4_k,
                    KQuant::Q5K => dequant::dequantize_block_q5_k,
                    KQuant::Q6K => dequant::dequantize_block_q6_k,
                };
                block(b, out);
            }
            assert_same_values(&deq, &want[..n], &format!("{} n={n} vs scalar reference", kind.id()));
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn non_finite_values_never_poison_a_block() {
    let mut rng = Rng(0x5EED_0003);
    for kind in KQuant::ALL {
        let mut values = rng.values(512);
        let clean: Vec<f32> = values.clone();
        values[3] = f32::NAN;
        values[300] = f32::INFINITY;
        values[301] = f32::NEG_INFINITY;
        let q = kind.quantize(&values, &[512]).unwrap();
        let mut zeroed = clean;
        for i in [3, 300, 301] {
            zeroed[i] = 0.0;
        }
        let qz = kind.quantize(&zeroed, &[512]).unwrap();
        for i in 0..512 {
            if i != 300 && i != 301 {
                assert_eq!(q.dequantized[i].to_bits(), qz.dequantized[i].to_bits(), "{} element {i}", kind.id());
            }
        }
        assert!(q.dequantized.iter().all(|v| v.is_finite()), "{}", kind.id());
        assert!(q.dequantized[300] >= q.dequantized[301], "{}: +Inf below −Inf", kind.id());
    }
}

//! The forward pass's kernels (src/llm/src/kernels): in the browser the SIMD128 kernel the build
//! picks must equal the scalar reference bit for bit — the F32 dot and matrix-vector products
//! (lengths with and without a tail, row counts around the four rows the kernels take at once),
//! the activations' Q8_0 and Q8_K quantization (ties, NaN, infinities, subnormals, a largest
//! magnitude held by both signs), and the Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and IQ4_XS
//! matrix-vector products (random blocks and extreme codes), and Q4_0's definition against the Q8_0 kernel on
//! its unpacked blocks. Natively the picked kernel is the reference itself, so these run there
//! only as a check that the tests themselves hold together; the K-quants' blocks as unpacked at
//! load are also held to quantscope-core's dequantizers (ggml's `dequantize_row_*`).

use half::f16;
use quantscope_llm::kernels::{self, reference};
use quantscope_llm::kquants::{self, BlockQ8K, QK_K};
use quantscope_llm::q4_0::{self, BlockQ4_0};
use quantscope_llm::q8_0::{self, BlockQ8_0};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The F32 matrix products' outputs `ours` against the reference's `theirs` (`abs`: the same
/// product of the operands' magnitudes, Σ|w·x| per output, `n` the length of the sums). Bit for
/// bit, except in the relaxed-SIMD build with `kernels::FusedF32` on (text generation's
/// setting), whose F32 products take `f32x4.relaxed_madd`: fused where the CPU has FMA
/// (src/llm/src/kernels/simd128.rs, `mac`), so within the rounding bound of two n-term sums of
/// the same products in the same order, 2·(n + 1)·ε·Σ|w·x| (the logits are then held to
/// llama.cpp's, not to the plain build's bits).
fn f32_products_match(ours: &[f32], theirs: &[f32], abs: &[f32], n: usize, what: &str) {
    if !(cfg!(target_feature = "relaxed-simd") && kernels::FusedF32::is_on()) {
        return assert_eq!(bits(ours), bits(theirs), "{what}");
    }
    for (i, ((&a, &b), &m)) in ours.iter().zip(theirs).zip(abs).enumerate() {
        let bound = 2.0 * (n + 1) as f64 * f32::EPSILON as f64 * m as f64;
        assert!(
            a.to_bits() == b.to_bits() || (a as f64 - b as f64).abs() <= bound,
            "{what}: output {i}: {a} against {b} (bound {bound:e})"
        );
    }
}

/// An f16 scale as the files hold them (random exponent and mantissa, either sign).
fn f16_scale(rng: &mut crate::common::Xorshift) -> [u8; 2] {
    let h = (rng.next() as u16 & 0x83ff) | ((rng.next() % 24 + 2) as u16) << 10;
    h.to_le_bytes()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn f32_dot_and_matvec_equal_their_references() {
    let mut rng = crate::common::Xorshift(0x5eed);
    for n in [0, 1, 7, 8, 9, 64, 255, 256, 1000] {
        let a: Vec<f32> = (0..n).map(|_| (rng.next() as i64 as f32) * 1e-19).collect();
        let b: Vec<f32> = (0..n).map(|_| (rng.next() as i32 as f32) * 1e-9).collect();
        assert_eq!(kernels::dot(&a, &b).to_bits(), reference::dot(&a, &b).to_bits(), "dot of {n}");
        for (rows, fused) in [0, 1, 3, 4, 5, 9].into_iter().flat_map(|r| [(r, false), (r, true)]) {
            let _fused = fused.then(kernels::FusedF32::on);
            let w: Vec<f32> = (0..rows * n).map(|_| (rng.next() as i32 as f32) * 1e-9).collect();
            let (mut ours, mut theirs) = (vec![0f32; rows], vec![0f32; rows]);
            kernels::f32_matvec(&w, &b, &mut ours);
            reference::f32_matvec(&w, &b, &mut theirs);
            let mut abs = vec![0f32; rows];
            reference::f32_matvec(&w.iter().map(|v| v.abs()).collect::<Vec<_>>(), &b.iter().map(|v| v.abs()).collect::<Vec<_>>(), &mut abs);
            f32_products_match(&ours, &theirs, &abs, n, &format!("{rows} rows of {n}, fused {fused}"));
        }
    }
}

/// Activation rows that stress the quantizers: random magnitudes, ties after scaling, zeros,
/// NaN, infinities, subnormals, and the largest magnitude present with both signs.
fn activation_rows(rng: &mut crate::common::Xorshift, len: usize) -> Vec<Vec<f32>> {
    let mut rows: Vec<Vec<f32>> = Vec::new();
    for scale in [1e-3f32, 1.0, 37.5, 1e30] {
        rows.push((0..len).map(|_| (rng.next() as i32 as f32) / i32::MAX as f32 * scale).collect());
    }
    // Multiples of 0.5 with a largest magnitude of 127: the multiplier is 1, every .5 a tie.
    let mut ties: Vec<f32> = (0..len).map(|_| (rng.next() % 255) as f32 / 2.0 - 63.5).collect();
    ties[3] = -127.0;
    ties[len - 2] = 127.0;
    rows.push(ties);
    rows.push(vec![0.0; len]);
    rows.push((0..len).map(|i| if i % 2 == 0 { -0.0 } else { 0.0 }).collect());
    let mut special: Vec<f32> = (0..len).map(|_| (rng.next() as i32 as f32) * 1e-6).collect();
    special[1] = f32::NAN;
    special[len / 2] = f32::NAN;
    rows.push(special.clone());
    special[5] = f32::INFINITY;
    rows.push(special.clone());
    special[7] = f32::NEG_INFINITY;
    rows.push(special);
    rows.push((0..len).map(|_| f32::from_bits(rng.next() as u32 & 0x807f_ffff)).collect()); // subnormal
    rows.push((0..len).map(|_| f32::from_bits(rng.next() as u32)).collect()); // any bit pattern
    rows.push(vec![f32::NAN; len]);
    rows
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn activation_quantizers_equal_their_references() {
    let mut rng = crate::common::Xorshift(0xac7);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for x in activation_rows(&mut rng, 2 * QK_K) {
        kernels::quantize_q8_0(&x, &mut ours);
        reference::quantize_q8_0(&x, &mut theirs);
        assert_eq!(ours.len(), 2 * QK_K / 32);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!((a.d.to_bits(), a.qs), (b.d.to_bits(), b.qs), "Q8_0 of {:?}", &x[..8]);
        }
    }
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut rows = activation_rows(&mut rng, 2 * QK_K);
    // The largest magnitude twice, minus first: its sign is the scale's.
    let mut both = vec![1.0f32; QK_K];
    both[9] = -4.0;
    both[200] = 4.0;
    rows.push(both.iter().chain(both.iter().rev()).copied().collect());
    for x in rows {
        kernels::quantize_q8_k(&x, &mut ours);
        reference::quantize_q8_k(&x, &mut theirs);
        assert_eq!(ours.len(), 2);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!((a.d.to_bits(), a.qs, a.bsums), (b.d.to_bits(), b.qs, b.bsums), "Q8_K of {:?}", &x[..8]);
        }
    }
}

fn q8_0_block(rng: &mut crate::common::Xorshift, extreme: bool) -> BlockQ8_0 {
    let mut bytes = f16_scale(rng).to_vec();
    bytes.extend((0..32).map(|_| if extreme { 0x80 } else { rng.next() as u8 }));
    q8_0::blocks_from_bytes(&bytes)[0]
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q8_0_and_q4_0_matvec_equal_their_references() {
    let mut rng = crate::common::Xorshift(0x0b10c);
    for (rows, nb, extreme) in [(1, 1, false), (3, 2, false), (4, 8, false), (5, 3, false), (9, 16, false), (6, 4, true)] {
        let x: Vec<BlockQ8_0> = (0..nb).map(|_| q8_0_block(&mut rng, extreme)).collect();
        let w8: Vec<BlockQ8_0> = (0..rows * nb).map(|_| q8_0_block(&mut rng, extreme)).collect();
        let w4: Vec<BlockQ4_0> = (0..rows * nb)
            .flat_map(|_| {
                let mut b = f16_scale(&mut rng).to_vec();
                b.extend((0..16).map(|_| if extreme { 0x00 } else { rng.next() as u8 }));
                q4_0::blocks_from_bytes(&b)
            })
            .collect();
        let mut y = [vec![0f32; rows], vec![0f32; rows]];
        kernels::q8_0_matvec(&w8, &x, &mut y[0]);
        reference::q8_0_matvec(&w8, &x, &mut y[1]);
        assert_eq!(bits(&y[0]), bits(&y[1]), "Q8_0: {rows} rows of {nb} blocks");
        // Q4_0 runs as its blocks unpacked to Q8_0 codes: the Q8_0 kernel on them is Q4_0's definition.
        let unpacked: Vec<BlockQ8_0> = w4.iter().map(q4_0::unpack).collect();
        kernels::q8_0_matvec(&unpacked, &x, &mut y[0]);
        reference::q4_0_matvec(&w4, &x, &mut y[1]);
        assert_eq!(bits(&y[0]), bits(&y[1]), "Q4_0: {rows} rows of {nb} blocks");
    }
}

/// Q8_K activation blocks: random codes and scales, or every code −128 (`extreme`).
fn q8_k_blocks(rng: &mut crate::common::Xorshift, nb: usize, extreme: bool) -> Vec<BlockQ8K> {
    (0..nb)
        .map(|_| {
            let qs = std::array::from_fn(|_| if extreme { -128 } else { rng.next() as i8 });
            let bsums = std::array::from_fn(|g| (0..16).map(|i| qs[16 * g + i] as i16).sum());
            BlockQ8K { d: (rng.next() as i32 as f32) * 1e-12, qs, bsums }
        })
        .collect()
}

/// `count` blocks of `len` bytes, random or all `fill` (`extreme`), with f16 scales at `scales`.
fn block_bytes(rng: &mut crate::common::Xorshift, count: usize, len: usize, scales: &[usize], fill: Option<u8>) -> Vec<u8> {
    let mut b: Vec<u8> = (0..count * len).map(|_| fill.unwrap_or_else(|| rng.next() as u8)).collect();
    for block in b.chunks_mut(len) {
        for &at in scales {
            block[at..at + 2].copy_from_slice(&f16_scale(rng));
        }
    }
    b
}

/// Row counts around the kernels' four, super-block counts 1–3, and extreme codes: Q8_K −128
/// against the largest weight codes (all bits set) and the smallest (Q3_K's −4: no bit set).
const K_SHAPES: [(usize, usize, Option<u8>); 8] =
    [(1, 1, None), (3, 2, None), (4, 1, None), (5, 3, None), (9, 2, None), (5, 2, Some(0xff)), (4, 1, Some(0x00)), (6, 2, Some(0x80))];

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q2_k_q3_k_and_q5_k_matvec_equal_their_references() {
    let mut rng = crate::common::Xorshift(0x235);
    for (rows, nb, fill) in K_SHAPES {
        let x = q8_k_blocks(&mut rng, nb, fill.is_some());
        let w2 = kquants::q2_k_from_bytes(&block_bytes(&mut rng, rows * nb, kquants::Q2_K_BYTES, &[80, 82], fill));
        let w3 = kquants::q3_k_from_bytes(&block_bytes(&mut rng, rows * nb, kquants::Q3_K_BYTES, &[108], fill));
        let w5 = kquants::q5_k_from_bytes(&block_bytes(&mut rng, rows * nb, kquants::Q5_K_BYTES, &[0, 2], fill));
        let mut y = [vec![0f32; rows], vec![0f32; rows]];
        kernels::q2_k_matvec(&w2, &x, &mut y[0]);
        reference::q2_k_matvec(&w2, &x, &mut y[1]);
        assert_eq!(bits(&y[0]), bits(&y[1]), "Q2_K: {rows} rows of {nb} super-blocks, fill {fill:?}");
        kernels::q3_k_matvec(&w3, &x, &mut y[0]);
        reference::q3_k_matvec(&w3, &x, &mut y[1]);
        assert_eq!(bits(&y[0]), bits(&y[1]), "Q3_K: {rows} rows of {nb} super-blocks, fill {fill:?}");
        kernels::q5_k_matvec(&w5, &x, &mut y[0]);
        reference::q5_k_matvec(&w5, &x, &mut y[1]);
        assert_eq!(bits(&y[0]), bits(&y[1]), "Q5_K: {rows} rows of {nb} super-blocks, fill {fill:?}");
    }
}

/// The K-quant blocks as the model unpacks them at load dequantize to ggml's values
/// (quantscope-core's `dequantize_row_q{2,3,4,5,6}_K` ports, held to the C library by its own
/// fixtures), and each reference dot product equals the f64 dot of those values with the
/// activations to float rounding — so the code, scale and min each value is read with are right.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn k_quant_blocks_unpack_and_multiply_as_ggml_defines_them() {
    use quantscope_core::schemes::kquants::KQuant;
    let mut rng = crate::common::Xorshift(0xdec0);
    let nb = 3;
    let x = q8_k_blocks(&mut rng, nb, false);
    let xd: Vec<f64> = x.iter().flat_map(|b| b.qs.iter().map(move |&q| q as f64 * b.d as f64)).collect();
    for (ty, len, scales) in [
        (KQuant::Q2K, kquants::Q2_K_BYTES, &[80usize, 82][..]),
        (KQuant::Q3K, kquants::Q3_K_BYTES, &[108]),
        (KQuant::Q4K, kquants::Q4_K_BYTES, &[0, 2]),
        (KQuant::Q5K, kquants::Q5_K_BYTES, &[0, 2]),
        (KQuant::Q6K, kquants::Q6_K_BYTES, &[208]),
    ] {
        let raw = block_bytes(&mut rng, nb, len, scales, None);
        let mut want = vec![0f32; nb * QK_K];
        ty.dequantize_blocks(&raw, &mut want);
        let mut ours = vec![0f32; nb * QK_K];
        let dot = match ty {
            KQuant::Q2K => {
                let w = kquants::q2_k_from_bytes(&raw);
                kquants::q2_k_dequantize(&w, &mut ours);
                reference::q2_k_dot(&w, &x)
            }
            KQuant::Q3K => {
                let w = kquants::q3_k_from_bytes(&raw);
                kquants::q3_k_dequantize(&w, &mut ours);
                reference::q3_k_dot(&w, &x)
            }
            KQuant::Q4K => {
                let w = kquants::q4_k_from_bytes(&raw);
                kquants::q4_k_dequantize(&w, &mut ours);
                reference::q4_k_dot(&w, &x)
            }
            KQuant::Q5K => {
                let w = kquants::q5_k_from_bytes(&raw);
                kquants::q5_k_dequantize(&w, &mut ours);
                reference::q5_k_dot(&w, &x)
            }
            KQuant::Q6K => {
                let w = kquants::q6_k_from_bytes(&raw);
                kquants::q6_k_dequantize(&w, &mut ours);
                reference::q6_k_dot(&w, &x)
            }
        };
        assert_eq!(bits(&ours), bits(&want), "{}: dequantized values", ty.id());
        let exact: f64 = ours.iter().zip(&xd).map(|(&a, &b)| a as f64 * b).sum();
        let scale: f64 = ours.iter().zip(&xd).map(|(&a, &b)| (a as f64 * b).abs()).sum();
        assert!((dot as f64 - exact).abs() <= 1e-5 * scale, "{}: {dot} vs {exact}", ty.id());
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q4_k_and_q6_k_matvec_equal_their_references() {
    let mut rng = crate::common::Xorshift(0x6b);
    for (rows, nb, extreme) in [(1, 1, false), (3, 2, false), (4, 1, false), (5, 3, false), (9, 2, false), (5, 2, true)] {
        let x = q8_k_blocks(&mut rng, nb, extreme);
        let mut bytes = |len: usize, scales: &[usize], fill: u8| block_bytes(&mut rng, rows * nb, len, scales, extreme.then_some(fill));
        let w4 = kquants::q4_k_from_bytes(&bytes(kquants::Q4_K_BYTES, &[0, 2], 0xff));
        let w6 = kquants::q6_k_from_bytes(&bytes(kquants::Q6_K_BYTES, &[208], 0x80));
        let mut y = [vec![0f32; rows], vec![0f32; rows]];
        kernels::q4_k_matvec(&w4, &x, &mut y[0]);
        reference::q4_k_matvec(&w4, &x, &mut y[1]);
        assert_eq!(bits(&y[0]), bits(&y[1]), "Q4_K: {rows} rows of {nb} super-blocks");
        kernels::q6_k_matvec(&w6, &x, &mut y[0]);
        reference::q6_k_matvec(&w6, &x, &mut y[1]);
        assert_eq!(bits(&y[0]), bits(&y[1]), "Q6_K: {rows} rows of {nb} super-blocks");
    }
}

/// Q6_K's values unpacked at load are `dequantize_row_q6_K`'s: a super-block whose every value
/// is known from its bytes.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q6_k_unpacks_as_ggml_lays_it_out() {
    // Value e = 64·half + 32·pair... : set ql and qh so value e is (e % 64) − 32.
    let mut b = vec![0u8; kquants::Q6_K_BYTES];
    for e in 0..QK_K {
        let code = (e % 64) as u8;
        let (half, i) = (e / 128, e % 128);
        let (part, l) = (i / 32, i % 32);
        let at = 64 * half + 32 * (part % 2) + l;
        b[at] |= if part < 2 { code & 0x0f } else { (code & 0x0f) << 4 };
        b[128 + 32 * half + l] |= (code >> 4) << (2 * part);
    }
    b[192..208].fill(1);
    b[208..210].copy_from_slice(&f16::from_f32(1.0).to_le_bytes());
    let block = &kquants::q6_k_from_bytes(&b)[0];
    let want: Vec<i8> = (0..QK_K).map(|e| (e % 64) as i8 - 32).collect();
    assert_eq!(block.q.to_vec(), want);
    let mut deq = vec![0f32; QK_K];
    kquants::q6_k_dequantize(std::slice::from_ref(block), &mut deq);
    assert_eq!(deq, want.iter().map(|&q| q as f32).collect::<Vec<_>>());
}

/// Q5_0 unpacked to Q8_0 codes (the Q8_0 kernel is its product, as for Q4_0) dequantizes to ggml's
/// values; Q4_1 and Q5_1 × Q8_1: the kernel equals its reference, random and extreme codes.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q5_0_unpacks_and_q8_1_matvec_equals_its_reference() {
    use quantscope_core::schemes::ggml::{dequantize_row, GgmlType};
    use quantscope_llm::legacy;
    let mut rng = crate::common::Xorshift(0x51);
    let raw = block_bytes(&mut rng, 8, legacy::Q5_0_BYTES, &[0], None);
    let mut want = vec![0f32; 8 * 32];
    dequantize_row(GgmlType::Q5_0, &raw, &mut want);
    let ours: Vec<f32> = legacy::q5_0_unpack(&raw).iter().flat_map(|b| b.qs.map(|q| q as f32 * b.d)).collect();
    assert_eq!(bits(&ours), bits(&want), "Q5_0 unpacked");
    for (rows, nb, fill) in [(1, 1, None), (3, 2, None), (4, 8, None), (5, 3, None), (9, 4, None), (6, 2, Some(0xff)), (5, 2, Some(0x00))] {
        let x: Vec<BlockQ8_0> = (0..nb).map(|_| q8_0_block(&mut rng, fill.is_some())).collect();
        let s: Vec<f32> = (0..nb).map(|_| (rng.next() as i32 as f32) * 1e-9).collect();
        for (len, unpack) in [(legacy::Q4_1_BYTES, legacy::q4_1_unpack as fn(&[u8]) -> Vec<_>), (legacy::Q5_1_BYTES, legacy::q5_1_unpack)] {
            let w = unpack(&block_bytes(&mut rng, rows * nb, len, &[0, 2], fill));
            let mut y = [vec![0f32; rows], vec![0f32; rows]];
            kernels::q8_1_matvec(&w, &x, &s, &mut y[0]);
            reference::q8_1_matvec(&w, &x, &s, &mut y[1]);
            assert_eq!(bits(&y[0]), bits(&y[1]), "{len}-byte blocks: {rows} rows of {nb}, fill {fill:?}");
        }
    }
}

/// IQ4_XS and IQ4_NL with their levels looked up at load (src/llm/src/iq4.rs) dequantize to
/// ggml's values (quantscope-core's `dequantize_row_iq4_xs` / `_iq4_nl` ports); the IQ4_XS kernel
/// equals its reference bit for bit (random and extreme blocks), and that reference equals the
/// f64 dot of the dequantized values to float rounding.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn iq4_blocks_unpack_as_ggml_and_the_iq4_xs_matvec_equals_its_reference() {
    use quantscope_core::ggml_dequant::iquants;
    use quantscope_llm::iq4;
    let mut rng = crate::common::Xorshift(0x1a4);
    let raw = block_bytes(&mut rng, 3, iq4::IQ4_XS_BYTES, &[0], None);
    let mut want = vec![0f32; 3 * QK_K];
    for (b, y) in raw.chunks(iq4::IQ4_XS_BYTES).zip(want.chunks_mut(QK_K)) {
        iquants::iq4_xs(b, y);
    }
    let w = iq4::iq4_xs_from_bytes(&raw);
    let mut ours = vec![0f32; 3 * QK_K];
    iq4::iq4_xs_dequantize(&w, &mut ours);
    assert_eq!(bits(&ours), bits(&want), "IQ4_XS unpacked");
    let x = q8_k_blocks(&mut rng, 3, false);
    let xd: Vec<f64> = x.iter().flat_map(|b| b.qs.iter().map(move |&q| q as f64 * b.d as f64)).collect();
    let dot = reference::iq4_xs_dot(&w, &x);
    let exact: f64 = ours.iter().zip(&xd).map(|(&a, &b)| a as f64 * b).sum();
    let scale: f64 = ours.iter().zip(&xd).map(|(&a, &b)| (a as f64 * b).abs()).sum();
    assert!((dot as f64 - exact).abs() <= 1e-5 * scale, "IQ4_XS: {dot} vs {exact}");

    let raw = block_bytes(&mut rng, 8, iq4::IQ4_NL_BYTES, &[0], None);
    let mut want = vec![0f32; 8 * 32];
    for (b, y) in raw.chunks(iq4::IQ4_NL_BYTES).zip(want.chunks_mut(32)) {
        iquants::iq4_nl(b, y);
    }
    let ours: Vec<f32> = iq4::iq4_nl_unpack(&raw).iter().flat_map(|b| b.qs.map(|q| q as f32 * b.d)).collect();
    assert_eq!(bits(&ours), bits(&want), "IQ4_NL unpacked");

    // Extreme: every index 0 (level −127) and every 6-bit scale 0 (−32), against Q8_K −128.
    for (rows, nb, fill) in K_SHAPES {
        let x = q8_k_blocks(&mut rng, nb, fill.is_some());
        let w = iq4::iq4_xs_from_bytes(&block_bytes(&mut rng, rows * nb, iq4::IQ4_XS_BYTES, &[0], fill.map(|_| 0x00)));
        let mut y = [vec![0f32; rows], vec![0f32; rows]];
        kernels::iq4_xs_matvec(&w, &x, &mut y[0]);
        reference::iq4_xs_matvec(&w, &x, &mut y[1]);
        assert_eq!(bits(&y[0]), bits(&y[1]), "IQ4_XS: {rows} rows of {nb} super-blocks, fill {fill:?}");
    }
}

/// Outputs of `tokens` tokens at a stride wider than the rows, the gaps holding a marker both
/// sides must leave alone.
fn tile_outputs(rows: usize, tokens: usize) -> (Vec<f32>, usize) {
    let stride = rows + 3;
    (vec![f32::from_bits(0x7fc0_1234); tokens * stride], stride)
}

/// The tile kernels (a tile of rows × several tokens, register-blocked: `Matrix::matmul`'s
/// prompt path) equal their references — the matrix-vector product token by token — bit for
/// bit: token counts around the kernels' two and four, row counts around their two and four,
/// random and extreme codes.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn tile_kernels_equal_their_references() {
    let mut rng = crate::common::Xorshift(0x711e);
    for tokens in [1, 2, 3, 4, 5, 9] {
        for n in [8, 9, 64, 100] {
            for (rows, fused) in [1, 3, 4, 5, 9].into_iter().flat_map(|r| [(r, false), (r, true)]) {
                let _fused = fused.then(kernels::FusedF32::on);
                let xs: Vec<f32> = (0..tokens * n).map(|_| (rng.next() as i32 as f32) * 1e-9).collect();
                let w: Vec<f32> = (0..rows * n).map(|_| (rng.next() as i32 as f32) * 1e-9).collect();
                let (mut ours, stride) = tile_outputs(rows, tokens);
                let mut theirs = ours.clone();
                kernels::f32_matmul(&w, &xs, n, &mut ours, stride);
                reference::f32_matmul(&w, &xs, n, &mut theirs, stride);
                let mut abs = theirs.clone();
                let magnitudes = |v: &[f32]| v.iter().map(|v| v.abs()).collect::<Vec<_>>();
                reference::f32_matmul(&magnitudes(&w), &magnitudes(&xs), n, &mut abs, stride);
                f32_products_match(&ours, &theirs, &abs, n, &format!("F32: {rows} rows of {n}, {tokens} tokens, fused {fused}"));
                // Every build and setting: the tile's outputs are the matrix-vector kernel's,
                // token by token (a prompt's logits are the token-by-token ones).
                let mut by_token = theirs.clone();
                for t in 0..tokens {
                    kernels::f32_matvec(&w, &xs[t * n..(t + 1) * n], &mut by_token[t * stride..t * stride + rows]);
                }
                assert_eq!(bits(&ours), bits(&by_token), "F32: {rows} rows of {n}, {tokens} tokens, fused {fused}, against f32_matvec");
            }
        }
        for (rows, nb, extreme) in [(1, 1, false), (3, 2, false), (4, 8, false), (5, 3, false), (9, 4, false), (6, 4, true)] {
            let xs: Vec<Vec<BlockQ8_0>> = (0..tokens).map(|_| (0..nb).map(|_| q8_0_block(&mut rng, extreme)).collect()).collect();
            let w: Vec<BlockQ8_0> = (0..rows * nb).map(|_| q8_0_block(&mut rng, extreme)).collect();
            let (mut ours, stride) = tile_outputs(rows, tokens);
            let mut theirs = ours.clone();
            kernels::q8_0_matmul(&w, &xs, &mut ours, stride);
            reference::q8_0_matmul(&w, &xs, &mut theirs, stride);
            assert_eq!(bits(&ours), bits(&theirs), "Q8_0: {rows} rows of {nb} blocks, {tokens} tokens");
        }
        for (rows, nb, fill) in K_SHAPES {
            let xs: Vec<Vec<BlockQ8K>> = (0..tokens).map(|_| q8_k_blocks(&mut rng, nb, fill.is_some())).collect();
            let mut bytes = |len: usize, scales: &[usize]| block_bytes(&mut rng, rows * nb, len, scales, fill);
            let (w2, w3) = (
                kquants::q2_k_from_bytes(&bytes(kquants::Q2_K_BYTES, &[80, 82])),
                kquants::q3_k_from_bytes(&bytes(kquants::Q3_K_BYTES, &[108])),
            );
            let (w4, w5) = (
                kquants::q4_k_from_bytes(&bytes(kquants::Q4_K_BYTES, &[0, 2])),
                kquants::q5_k_from_bytes(&bytes(kquants::Q5_K_BYTES, &[0, 2])),
            );
            let w6 = kquants::q6_k_from_bytes(&bytes(kquants::Q6_K_BYTES, &[208]));
            let (out, stride) = tile_outputs(rows, tokens);
            let check = |name: &str, ours: &dyn Fn(&mut [f32]), theirs: &dyn Fn(&mut [f32])| {
                let (mut a, mut b) = (out.clone(), out.clone());
                ours(&mut a);
                theirs(&mut b);
                assert_eq!(bits(&a), bits(&b), "{name}: {rows} rows of {nb} super-blocks, {tokens} tokens, fill {fill:?}");
            };
            check("Q2_K", &|y| kernels::q2_k_matmul(&w2, &xs, y, stride), &|y| reference::q2_k_matmul(&w2, &xs, y, stride));
            check("Q3_K", &|y| kernels::q3_k_matmul(&w3, &xs, y, stride), &|y| reference::q3_k_matmul(&w3, &xs, y, stride));
            check("Q4_K", &|y| kernels::q4_k_matmul(&w4, &xs, y, stride), &|y| reference::q4_k_matmul(&w4, &xs, y, stride));
            check("Q5_K", &|y| kernels::q5_k_matmul(&w5, &xs, y, stride), &|y| reference::q5_k_matmul(&w5, &xs, y, stride));
            check("Q6_K", &|y| kernels::q6_k_matmul(&w6, &xs, y, stride), &|y| reference::q6_k_matmul(&w6, &xs, y, stride));
        }
    }
}

/// The softmax's and SwiGLU's exponentials (four lanes at a time in the browser) equal `f32::exp`
/// there bit for bit: a sweep of every 61st f32 up to ±128 (each branch of the library's `expf`:
/// tiny, ±1·ln 2, the reduced range, subnormal results, overflow), the branch edges and their
/// neighbours, zeros, infinities and NaN; the sums to the bit.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn exponentials_equal_their_references() {
    let mut xs: Vec<f32> = (0..0x4300_0000u32).step_by(61).flat_map(|b| [f32::from_bits(b), -f32::from_bits(b)]).collect();
    for edge in [0x3900_0000u32, 0x3eb1_7218, 0x3f85_1592, 0x42ae_ac50, 0x42b1_7218, 0x42cf_f1b5, 0x7f80_0000] {
        // Not the signaling NaNs just above ∞: whether wasm arithmetic quiets one depends on the
        // compiler (LLVM folds the reference's x − 0 to x, keeping it signaling; the SIMD
        // subtraction quiets it), which the softmax, subtracting a real max, never meets.
        for b in (edge - 2..=edge + 2).filter(|b| !(0x7f80_0001..0x7fc0_0000).contains(b)) {
            xs.extend([f32::from_bits(b), -f32::from_bits(b)]);
        }
    }
    xs.extend([0.0, -0.0, f32::NAN, -f32::NAN, f32::MAX, f32::MIN, 1.0, -1.0, 0.5, 88.0, -100.0, -87.5]);
    for chunk in xs.chunks(4099) {
        let (mut ours, mut theirs) = (chunk.to_vec(), chunk.to_vec());
        let (a, b) = (kernels::exp_shifted(&mut ours, 0.0), reference::exp_shifted(&mut theirs, 0.0));
        assert_eq!(bits(&ours), bits(&theirs), "exp of {:?}..", &chunk[..4]);
        assert_eq!(a.to_bits(), b.to_bits(), "the sum of the exponentials of {:?}..", &chunk[..4]);
        let up: Vec<f32> = chunk.iter().rev().copied().collect();
        let (mut ours, mut theirs) = (chunk.to_vec(), chunk.to_vec());
        kernels::swiglu(&mut ours, &up);
        reference::swiglu(&mut theirs, &up);
        assert_eq!(bits(&ours), bits(&theirs), "swiglu of {:?}..", &chunk[..4]);
    }
    // A max subtracted first, as the softmax does.
    let (mut ours, mut theirs) = (xs[..1001].to_vec(), xs[..1001].to_vec());
    let (a, b) = (kernels::exp_shifted(&mut ours, 3.25), reference::exp_shifted(&mut theirs, 3.25));
    assert_eq!((bits(&ours), a.to_bits()), (bits(&theirs), b.to_bits()));
}

/// Attention's two loops over the cached positions (four keys at a time in the browser) equal
/// their references bit for bit: head sizes with and without an eight-value tail and with and
/// without whole sixteens, key counts around four, rows wider than a head (a KV cache's stride),
/// random values, zeros of both signs, and scores with NaN and infinities.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn attention_loops_equal_their_references() {
    let mut rng = crate::common::Xorshift(0xa77e);
    for hd in [1, 4, 8, 12, 16, 20, 32, 64, 80] {
        for keys in [1, 2, 3, 4, 5, 8, 13] {
            let stride = hd + 7;
            let cache: Vec<f32> = (0..keys * stride).map(|i| if i % 11 == 0 { -0.0 } else { (rng.next() as i32 as f32) * 1e-9 }).collect();
            let q: Vec<f32> = (0..hd).map(|_| (rng.next() as i32 as f32) * 1e-9).collect();
            let (mut ours, mut theirs) = (vec![7.0; keys], vec![7.0; keys]);
            kernels::attn_scores(&cache, stride, &q, 0.125, &mut ours);
            reference::attn_scores(&cache, stride, &q, 0.125, &mut theirs);
            assert_eq!(bits(&ours), bits(&theirs), "scores: {keys} keys of {hd}");
            let mut p: Vec<f32> = (0..keys).map(|_| (rng.next() % 1000) as f32 / 999.0).collect();
            for special in [None, Some(f32::NAN), Some(f32::INFINITY), Some(-0.0)] {
                if let Some(v) = special {
                    p[keys / 2] = v;
                }
                let (mut ours, mut theirs) = (vec![7.0; hd], vec![7.0; hd]);
                kernels::attn_values(&p, &cache, stride, &mut ours);
                reference::attn_values(&p, &cache, stride, &mut theirs);
                assert_eq!(bits(&ours), bits(&theirs), "values: {keys} keys of {hd}, {special:?}");
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn rms_norm_rows_equals_its_reference() {
    let mut rng = crate::common::Xorshift(0x4a5e);
    for e in [1, 4, 6, 8, 32, 256] {
        for rows in [0, 1, 7, 8, 9, 17] {
            let w: Vec<f32> = (0..e).map(|_| (rng.next() as i32 as f32) * 1e-9).collect();
            let mut x: Vec<f32> = (0..rows * e).map(|i| if i % 13 == 0 { -0.0 } else { (rng.next() as i32 as f32) * 1e-9 }).collect();
            if rows > 3 {
                // A row of zeros and a row whose squares overflow f32.
                x[2 * e..3 * e].fill(0.0);
                x[3 * e] = 3e19;
            }
            let (mut ours, mut theirs) = (vec![7.0; rows * e], vec![7.0; rows * e]);
            kernels::rms_norm_rows(&x, &w, 1e-5, &mut ours);
            reference::rms_norm_rows(&x, &w, 1e-5, &mut theirs);
            assert_eq!(bits(&ours), bits(&theirs), "{rows} rows of {e}");
        }
    }
}

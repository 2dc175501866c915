//! The forward pass's kernels (src/llm/src/kernels): in the browser the SIMD128 kernel the build
//! picks must equal the scalar reference bit for bit — the F32 dot product in ggml's eight lanes
//! (lengths with and without a tail) and the integer sums of Q8_0 × Q8_0 and Q4_0 × Q8_0 blocks,
//! extremes included. Natively the picked kernel is the reference itself.

use quantscope_llm::kernels::{self, reference};

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn kernels_equal_their_references() {
    let mut rng = crate::common::Xorshift(0x5eed);
    for n in [0, 1, 7, 8, 9, 64, 255, 256, 1000] {
        let a: Vec<f32> = (0..n).map(|_| (rng.next() as i64 as f32) * 1e-19).collect();
        let b: Vec<f32> = (0..n).map(|_| (rng.next() as i32 as f32) * 1e-9).collect();
        assert_eq!(kernels::dot(&a, &b).to_bits(), reference::dot(&a, &b).to_bits(), "dot of {n}");
    }
    let i8s = |rng: &mut crate::common::Xorshift| -> [i8; 32] { std::array::from_fn(|_| rng.next() as i8) };
    let mut cases: Vec<([i8; 32], [i8; 32], [u8; 16])> =
        (0..200).map(|_| (i8s(&mut rng), i8s(&mut rng), std::array::from_fn(|_| rng.next() as u8))).collect();
    cases.push(([-128; 32], [-128; 32], [0x00; 16]));
    cases.push(([127; 32], [-128; 32], [0xff; 16]));
    for (w, x, nibbles) in cases {
        assert_eq!(kernels::q8_0_sums(&w, &x), reference::q8_0_sums(&w, &x));
        assert_eq!(kernels::q4_0_sums(&nibbles, &x), reference::q4_0_sums(&nibbles, &x));
    }
}

/// The inline FMA is `f32::mul_add` bit for bit: random operands of every magnitude, the
/// accumulations the kernels make (scale × integer sum + running sum), and half-way cases.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn fma_is_mul_add() {
    let mut rng = crate::common::Xorshift(0xf4a);
    let check = |a: f32, b: f32, c: f32| {
        let (ours, libm) = (kernels::fma(a, b, c), a.mul_add(b, c));
        assert!(
            ours.to_bits() == libm.to_bits() || (ours.is_nan() && libm.is_nan()),
            "fma({a:e}, {b:e}, {c:e}): {ours:e} against {libm:e}"
        );
    };
    for _ in 0..200_000 {
        let f = |r: u64| f32::from_bits(r as u32);
        check(f(rng.next()), f(rng.next()), f(rng.next()));
        let d = f32::from_bits(0x3a00_0000 | (rng.next() as u32 & 0x00ff_ffff));
        let s = (rng.next() % 130_000) as f32 - 65_000.0;
        check(d, s, (rng.next() as i32 as f32) * 1e-6);
    }
    // Exactly half-way between two f32 (ties to even), products that need all 48 bits, and
    // results in f32's subnormal range.
    check(1.0, 1.0, 2f32.powi(-24));
    check(f32::from_bits(0x3f80_0001), f32::from_bits(0x3f80_0001), -1.0);
    check(f32::from_bits(0x3fff_ffff), f32::from_bits(0x3fff_ffff), -4.0);
    check(f32::MIN_POSITIVE, 0.5, f32::MIN_POSITIVE / 4.0);
    check(f32::MAX, 2.0, -f32::MAX);
    check(-3.0, 0.0, 0.0);
    check(3.0, 0.0, -0.0);
    check(-0.0, 5.0, -0.0);
}

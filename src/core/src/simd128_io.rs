//! Unaligned SIMD128 loads and stores of byte and f32 slices, shared by the kernels
//! (`schemes::*::simd128*`). Each checks its slice's length first, so the unsafe load or store
//! stays in bounds (wasm's v128.load/store have no alignment requirement).

use core::arch::wasm32::*;

/// The first 4 f32 of `x` (panics if it has fewer).
#[cfg(feature = "extra-simd")]
#[inline(always)]
pub(crate) fn load4(x: &[f32]) -> v128 {
    let x = &x[..4];
    // SAFETY: 4 readable f32.
    unsafe { v128_load(x.as_ptr() as *const v128) }
}

/// The first 16 bytes of `b` (panics if it has fewer).
#[inline(always)]
pub(crate) fn load16(b: &[u8]) -> v128 {
    let b = &b[..16];
    // SAFETY: 16 readable bytes.
    unsafe { v128_load(b.as_ptr() as *const v128) }
}

/// `v` into the first 16 bytes of `o` (panics if it has fewer).
#[inline(always)]
pub(crate) fn store16(o: &mut [u8], v: v128) {
    let o = &mut o[..16];
    // SAFETY: 16 writable bytes.
    unsafe { v128_store(o.as_mut_ptr() as *mut v128, v) }
}

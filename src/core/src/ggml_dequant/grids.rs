//! ggml's IQ grids (`iq2xxs_grid` … `iq1s_grid` in `ggml/src/ggml-common.h`), expanded once from
//! their compact codes (grid_codes.rs) into the tables the C code indexes: each u64/u32 holds
//! 8 grid values (the IQ3 grids 4, in the low bytes), the first in the lowest byte. Public so
//! that the Learn view's block decoder (quantscope-learn's iq_blocks.rs) names the same points.

use super::grid_codes::*;
pub(super) use super::grid_codes::{KSIGNS_IQ2XS, KVALUES_FP4, KVALUES_IQ4NL};
use std::sync::OnceLock;

/// `ksigns_iq2xs`: sign byte k is the 7 bits of k with an 8th that makes the count of set bits
/// even (bit j set: value j is negative).
pub fn ksigns_iq2xs() -> &'static [u8; 128] {
    &KSIGNS_IQ2XS
}

/// Entry k of a grid: `width` values, each `bits` wide in `codes[k]`, mapped through `levels`.
fn expand<const N: usize>(codes: &[u16; N], levels: &[u8], width: usize, bits: usize) -> Box<[u64; N]> {
    let mask = (1u16 << bits) - 1;
    let entry = |c: u16| (0..width).fold(0u64, |e, j| e | (levels[((c >> (bits * j)) & mask) as usize] as u64) << (8 * j));
    Box::new(std::array::from_fn(|k| entry(codes[k])))
}

macro_rules! grid {
    ($name:ident, $codes:ident, $levels:ident, $n:literal, $width:literal, $bits:literal) => {
        pub fn $name() -> &'static [u64; $n] {
            static GRID: OnceLock<Box<[u64; $n]>> = OnceLock::new();
            GRID.get_or_init(|| expand(&$codes, &$levels, $width, $bits))
        }
    };
}

grid!(iq2xxs, IQ2XXS_CODES, IQ2XXS_LEVELS, 256, 8, 2);
grid!(iq2xs, IQ2XS_CODES, IQ2XS_LEVELS, 512, 8, 2);
grid!(iq2s, IQ2S_CODES, IQ2S_LEVELS, 1024, 8, 2);
grid!(iq3xxs, IQ3XXS_CODES, IQ3XXS_LEVELS, 256, 4, 3);
grid!(iq3s, IQ3S_CODES, IQ3S_LEVELS, 512, 4, 3);
grid!(iq1s, IQ1S_CODES, IQ1S_LEVELS, 2048, 8, 2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_match_ggml_common_h() {
        // The first and last entries as ggml-common.h spells them.
        assert_eq!((iq2xxs()[0], iq2xxs()[252], iq2xxs()[255]), (0x0808080808080808, 0x2b2b082b08080808, 0x2b2b2b1908081908));
        assert_eq!((iq3xxs()[0], iq3xxs()[1]), (0x04040404, 0x04040414));
        assert_eq!(iq1s()[0], 0xffffffffffffffff);
    }
}

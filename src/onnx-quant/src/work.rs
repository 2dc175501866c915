//! A model's weight quantization cut into jobs any worker can run, so the page can spread a
//! model's weights over its pool of workers (www/run/pool.js), each its own wasm instance, and
//! still write the very file one worker writes.
//!
//! [`crate::nbits::NBitsWork`] reads the model and hands out one [`WeightJob`] per weight it
//! quantizes (a MatMul's B, a Gather's table), in the model's node order; [`WeightJob::encode`]
//! is a pure function of the job and the options, so it gives the same [`Encoded`] bytes on any
//! worker at any time; `NBitsWork::finish` takes the encoded weights back by job number, in
//! whatever order they came, and writes the file. [`Encoded::to_bytes`] / [`Encoded::from_bytes`]
//! carry one job's initializer payloads between two workers as one buffer.

use crate::blockwise;
use crate::hqq;
use crate::nbits_options::{NBitsAlgorithm, NBitsFormat, NBitsOptions};
use crate::{QuantizeError, Result};

/// What a weight is, as its encoding needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightShape {
    /// A MatMul's B `[k, n]` (row major); `half`: B is FLOAT16, its scales are too.
    MatMul { k: usize, n: usize, half: bool },
    /// A Gather's FLOAT table of this shape, quantized in blocks along axis 1.
    Gather { shape: Vec<usize> },
}

/// One weight to quantize: all [`WeightJob::encode`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightJob {
    /// The initializer's name, for messages.
    pub weight: String,
    pub shape: WeightShape,
    pub values: Vec<f32>,
}

/// The raw_data of the initializers one weight becomes, in the order the file lists them:
/// codes, scales, then zero points when there are any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub parts: Vec<Vec<u8>>,
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Scales as B's own type stores them: float32, or float16 for a FLOAT16 B (the values are
/// float16's already).
fn scale_bytes(scales: &[f32], half: bool) -> Vec<u8> {
    if half {
        scales.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect()
    } else {
        f32_bytes(scales)
    }
}

impl WeightJob {
    /// The weight's values count, from its shape (None when it overflows).
    fn count(&self) -> Option<usize> {
        match &self.shape {
            WeightShape::MatMul { k, n, .. } => k.checked_mul(*n),
            WeightShape::Gather { shape } => shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)),
        }
    }

    /// The weight quantized with `o`: the same bytes wherever and whenever it runs. Not inlined:
    /// the page's module calls it from two places (here and in a pool worker), and two inlined
    /// copies of the quantizers would cost it ~4 KB gzipped.
    #[inline(never)]
    pub fn encode(&self, o: &NBitsOptions) -> Result<Encoded> {
        o.check()?;
        let bad = |why: String| QuantizeError::Weight { name: self.weight.clone(), why };
        if self.count() != Some(self.values.len()) {
            return Err(bad(format!("{} values for a weight of {} (its shape)", self.values.len(), self.count().unwrap_or(usize::MAX))));
        }
        let parts = match &self.shape {
            WeightShape::MatMul { k, n, half } => {
                let (k, n, half, bs, bits) = (*k, *n, *half, o.block_size, o.bits);
                match (o.format, o.algorithm) {
                    (NBitsFormat::QOperator, NBitsAlgorithm::Hqq) => {
                        if half {
                            return Err(bad("HQQ takes FLOAT weights, this one is FLOAT16".into()));
                        }
                        let h = hqq::hqq(&self.values, k, n, bs, bits);
                        vec![h.packed, f32_bytes(&h.scales), f32_bytes(&h.zero_points)]
                    }
                    (NBitsFormat::QOperator, NBitsAlgorithm::Rtn) => {
                        let q = blockwise::matmul_nbits(&self.values, k, n, bs, bits, o.symmetric, half);
                        let mut parts = vec![q.packed, scale_bytes(&q.scales, half)];
                        if !o.symmetric {
                            parts.push(q.zero_points);
                        }
                        parts
                    }
                    (NBitsFormat::Qdq, _) => {
                        let q = blockwise::qdq(&self.values, k, n, bs, o.symmetric, half);
                        let mut parts = vec![q.packed, scale_bytes(&q.scales, half)];
                        parts.extend(q.zero_points);
                        parts
                    }
                }
            }
            WeightShape::Gather { shape } => {
                if shape.len() < 2 {
                    return Err(bad(format!("a Gather table of {} dimension(s): blocks along axis 1 need two", shape.len())));
                }
                let (codes, scales, zps) = blockwise::gather_blocks(shape, &self.values, o.block_size, o.symmetric);
                let mut parts = vec![blockwise::pack_nibbles(&codes), f32_bytes(&scales)];
                if !o.symmetric {
                    parts.push(blockwise::pack_nibbles(&zps));
                }
                parts
            }
        };
        Ok(Encoded { parts })
    }
}

/// [`Encoded::from_bytes`]'s most parts (codes, scales, zero points; a GPTQ weight adds its
/// output errors, `gptq::job_to_bytes`).
const MAX_PARTS: usize = 4;

impl Encoded {
    /// One buffer: the part count (u32 LE), each part's length (u64 LE), then the parts.
    pub fn to_bytes(&self) -> Vec<u8> {
        let body: usize = self.parts.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(4 + 8 * self.parts.len() + body);
        out.extend((self.parts.len() as u32).to_le_bytes());
        for p in &self.parts {
            out.extend((p.len() as u64).to_le_bytes());
        }
        for p in &self.parts {
            out.extend_from_slice(p);
        }
        out
    }

    /// The parts [`Encoded::to_bytes`] wrote, or why `bytes` are not that.
    pub fn from_bytes(bytes: &[u8]) -> Result<Encoded> {
        let bad = |why: &str| QuantizeError::Unsupported(format!("an encoded weight from a worker is damaged: {why}"));
        let count = bytes.get(..4).ok_or_else(|| bad("shorter than its header"))?;
        let count = u32::from_le_bytes(count.try_into().expect("4 bytes")) as usize;
        if count == 0 || count > MAX_PARTS {
            return Err(bad(&format!("{count} parts")));
        }
        let mut at = 4 + 8 * count;
        let lengths = bytes.get(4..at).ok_or_else(|| bad("shorter than its header"))?;
        let mut parts = Vec::with_capacity(count);
        for len in lengths.chunks_exact(8) {
            let len = usize::try_from(u64::from_le_bytes(len.try_into().expect("8 bytes"))).map_err(|_| bad("a part too long"))?;
            let end = at.checked_add(len).filter(|&e| e <= bytes.len()).ok_or_else(|| bad("a part longer than the bytes left"))?;
            parts.push(bytes[at..end].to_vec());
            at = end;
        }
        if at != bytes.len() {
            return Err(bad(&format!("{} bytes after its parts", bytes.len() - at)));
        }
        Ok(Encoded { parts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_round_trips_and_damage_is_refused() {
        let e = Encoded { parts: vec![vec![1, 2, 3], vec![], vec![9; 5]] };
        let bytes = e.to_bytes();
        assert_eq!(Encoded::from_bytes(&bytes).unwrap(), e);
        for cut in [0, 3, 10, bytes.len() - 1] {
            assert!(Encoded::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Encoded::from_bytes(&longer).is_err());
        assert!(Encoded::from_bytes(&[5, 0, 0, 0]).is_err());
    }

    #[test]
    fn a_job_whose_values_do_not_fit_its_shape_is_refused() {
        let job = WeightJob { weight: "w".into(), shape: WeightShape::MatMul { k: 4, n: 4, half: false }, values: vec![0.0; 15] };
        let err = job.encode(&NBitsOptions { block_size: 16, ..NBitsOptions::default() }).unwrap_err();
        assert!(err.to_string().contains("15 values"), "{err}");
    }
}

//! A model's matrices as the forward pass multiplies them: F32 and Q8_0 as stored; Q4_0, Q5_0,
//! Q4_1, Q5_1, IQ4_NL, the K-quants Q2_K–Q6_K and IQ4_XS unpacked at load to a byte per code (and
//! their scales), multiplied as ggml-cpu does with the activations quantized to the weight type's
//! `vec_dot_type` (Q8_0 for Q8_0, Q4_0, Q5_0 and IQ4_NL: [`crate::q8_0`], [`crate::q4_0`],
//! [`crate::legacy`], [`crate::iq4`]; Q8_1 for Q4_1 and Q5_1; Q8_K for the K-quants and IQ4_XS:
//! [`crate::kquants`]). The other types ggml-cpu multiplies are dequantized at load
//! and multiplied in f32 by activations rounded as ggml rounds them ([`crate::dequantized`]).

use crate::dequantized::ActivationRounding;
use crate::error::{LlmError, Result};
use crate::iq4::{self, BlockIq4Xs};
use crate::kernels;
use crate::kquants::{self, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, QK_K};
use crate::legacy::{self, BlockQ8Min};
use crate::q4_0;
use crate::q8_0::{self, BlockQ8_0};
use quantscope_formats::lazy::LazyFile;

/// A matrix of `rows` × `cols` (row-major: a row is one output's weights, ggml's ne0 = cols).
pub enum Matrix {
    F32 {
        rows: usize,
        cols: usize,
        w: Vec<f32>,
    },
    Q8_0 {
        rows: usize,
        cols: usize,
        blocks: Vec<BlockQ8_0>,
    },
    /// Unpacked at load to bytes ([`q4_0::unpack`]).
    Q4_0 {
        rows: usize,
        cols: usize,
        blocks: Vec<BlockQ8_0>,
    },
    /// Unpacked at load to Q8_0 codes q − 16 ([`legacy::q5_0_unpack`]).
    Q5_0 {
        rows: usize,
        cols: usize,
        blocks: Vec<BlockQ8_0>,
    },
    /// Unpacked at load to Q8_0 codes, its levels ([`iq4::iq4_nl_unpack`]).
    Iq4Nl {
        rows: usize,
        cols: usize,
        blocks: Vec<BlockQ8_0>,
    },
    Iq4Xs {
        rows: usize,
        cols: usize,
        blocks: Vec<BlockIq4Xs>,
    },
    /// Q4_1 or Q5_1 (`ty`), unpacked at load to codes and block mins ([`legacy`]).
    Q8Min {
        rows: usize,
        cols: usize,
        ty: &'static str,
        blocks: Vec<BlockQ8Min>,
    },
    Q2K {
        rows: usize,
        cols: usize,
        blocks: Vec<BlockQ2K>,
    },
    Q3K {
        rows: usize,
        cols: usize,
        blocks: Vec<BlockQ3K>,
    },
    Q4K {
        rows: usize,
        cols: usize,
        blocks: Vec<BlockQ4K>,
    },
    Q5K {
        rows: usize,
        cols: usize,
        blocks: Vec<BlockQ5K>,
    },
    Q6K {
        rows: usize,
        cols: usize,
        blocks: Vec<BlockQ6K>,
    },
    /// Any other type: its values dequantized, `ty` its ggml type name.
    Dequantized {
        rows: usize,
        cols: usize,
        ty: &'static str,
        act: ActivationRounding,
        w: Vec<f32>,
    },
}

/// Bytes the weights of a matrix of `elements` values stored as `dtype` (ggml's lower-case name)
/// take once [`TensorSource::matrix`] has loaded them: the blocks as the kernels keep them (Q4_0
/// unpacked to Q8_0 codes: 36 bytes per 32 weights for the file's 18; Q2_K 280 bytes per 256 for
/// the file's 84), or 4 bytes per weight for a type dequantized at load. What [`Matrix::memory_bytes`]
/// then counts; the page's "too big for the tab" check adds these up from a file's header.
pub fn loaded_bytes(dtype: &str, elements: u64) -> u64 {
    use std::mem::size_of;
    let blocks = |per: usize, size: usize| elements / per as u64 * size as u64;
    match dtype {
        "f32" => elements * 4,
        "q8_0" | "q4_0" | "q5_0" | "iq4_nl" => blocks(q8_0::QK, size_of::<BlockQ8_0>()),
        "q4_1" | "q5_1" => blocks(q8_0::QK, size_of::<BlockQ8Min>()),
        "q2_k" => blocks(QK_K, size_of::<BlockQ2K>()),
        "q3_k" => blocks(QK_K, size_of::<BlockQ3K>()),
        "q4_k" => blocks(QK_K, size_of::<BlockQ4K>()),
        "q5_k" => blocks(QK_K, size_of::<BlockQ5K>()),
        "q6_k" => blocks(QK_K, size_of::<BlockQ6K>()),
        "iq4_xs" => blocks(QK_K, size_of::<BlockIq4Xs>()),
        _ => elements * 4,
    }
}

/// What a model file's tensors take in memory once loaded ([`crate::Model::memory_bytes`]),
/// from its header alone: each matrix as [`loaded_bytes`], each vector (norms, biases) as f32.
pub fn loaded_model_bytes(file: &LazyFile) -> u64 {
    file.tensors
        .iter()
        .map(|t| {
            let elements = t.elements();
            if t.shape.iter().filter(|&&d| d > 1).count() >= 2 {
                loaded_bytes(&t.dtype, elements)
            } else {
                elements * 4
            }
        })
        .sum()
}

impl Matrix {
    /// Bytes its weights take in memory, as allocated.
    pub fn memory_bytes(&self) -> u64 {
        use std::mem::size_of_val;
        (match self {
            Matrix::F32 { w, .. } => size_of_val(&w[..]),
            Matrix::Q8_0 { blocks, .. } | Matrix::Q4_0 { blocks, .. } | Matrix::Q5_0 { blocks, .. } | Matrix::Iq4Nl { blocks, .. } => {
                size_of_val(&blocks[..])
            }
            Matrix::Iq4Xs { blocks, .. } => size_of_val(&blocks[..]),
            Matrix::Q8Min { blocks, .. } => size_of_val(&blocks[..]),
            Matrix::Q2K { blocks, .. } => size_of_val(&blocks[..]),
            Matrix::Q3K { blocks, .. } => size_of_val(&blocks[..]),
            Matrix::Q4K { blocks, .. } => size_of_val(&blocks[..]),
            Matrix::Q5K { blocks, .. } => size_of_val(&blocks[..]),
            Matrix::Q6K { blocks, .. } => size_of_val(&blocks[..]),
            Matrix::Dequantized { w, .. } => size_of_val(&w[..]),
        }) as u64
    }

    pub fn rows(&self) -> usize {
        match self {
            Matrix::F32 { rows, .. }
            | Matrix::Q8_0 { rows, .. }
            | Matrix::Q4_0 { rows, .. }
            | Matrix::Q5_0 { rows, .. }
            | Matrix::Iq4Nl { rows, .. }
            | Matrix::Iq4Xs { rows, .. }
            | Matrix::Q8Min { rows, .. }
            | Matrix::Q2K { rows, .. }
            | Matrix::Q3K { rows, .. }
            | Matrix::Q4K { rows, .. }
            | Matrix::Q5K { rows, .. }
            | Matrix::Q6K { rows, .. }
            | Matrix::Dequantized { rows, .. } => *rows,
        }
    }

    pub fn cols(&self) -> usize {
        match self {
            Matrix::F32 { cols, .. }
            | Matrix::Q8_0 { cols, .. }
            | Matrix::Q4_0 { cols, .. }
            | Matrix::Q5_0 { cols, .. }
            | Matrix::Iq4Nl { cols, .. }
            | Matrix::Iq4Xs { cols, .. }
            | Matrix::Q8Min { cols, .. }
            | Matrix::Q2K { cols, .. }
            | Matrix::Q3K { cols, .. }
            | Matrix::Q4K { cols, .. }
            | Matrix::Q5K { cols, .. }
            | Matrix::Q6K { cols, .. }
            | Matrix::Dequantized { cols, .. } => *cols,
        }
    }

    /// ggml's type name of the stored weights.
    pub fn type_name(&self) -> &'static str {
        match self {
            Matrix::F32 { .. } => "f32",
            Matrix::Q8_0 { .. } => "q8_0",
            Matrix::Q4_0 { .. } => "q4_0",
            Matrix::Q5_0 { .. } => "q5_0",
            Matrix::Iq4Nl { .. } => "iq4_nl",
            Matrix::Iq4Xs { .. } => "iq4_xs",
            Matrix::Q8Min { ty, .. } => ty,
            Matrix::Q2K { .. } => "q2_k",
            Matrix::Q3K { .. } => "q3_k",
            Matrix::Q4K { .. } => "q4_k",
            Matrix::Q5K { .. } => "q5_k",
            Matrix::Q6K { .. } => "q6_k",
            Matrix::Dequantized { ty, .. } => ty,
        }
    }

    /// y = W x (`ggml_mul_mat` of one column), by the kernels of [`crate::kernels`]: [`Matrix::matmul`] of one token.
    pub fn matvec(&self, x: &[f32], y: &mut [f32]) {
        self.matmul(x, y)
    }

    /// Y = W X for `xs.len() / cols` tokens (row-major X: a token's `cols` inputs after another's;
    /// Y: a token's `rows` outputs after another's), each output exactly as [`Matrix::matvec`]
    /// makes it (the same kernel on the same row and input: bit for bit). Only the loop nest
    /// differs: a tile of rows is multiplied by every token before the next tile, so the tile's
    /// weights are read from memory once per block of tokens, not once per token (llama.cpp's
    /// `ggml_compute_forward_mul_mat` blocks its rows and columns the same way).
    pub fn matmul(&self, xs: &[f32], ys: &mut [f32]) {
        self.matmul_shared(&Activations::new(xs), ys)
    }

    /// [`Matrix::matmul`] of activations that several matrices take (a layer's Q, K and V, gate
    /// and up): their Q8_0 or Q8_K form made once, by the first matrix that needs it (the same
    /// bits each time: the products are unchanged).
    pub fn matmul_shared(&self, acts: &Activations, ys: &mut [f32]) {
        let (rows, cols, xs) = (self.rows(), self.cols(), acts.xs);
        let n = xs.len() / cols;
        assert_eq!(ys.len(), n * rows, "matmul: {} outputs for {n} tokens of {rows} rows", ys.len());
        let tokens = || xs.chunks_exact(cols);
        let q8_0 = || acts.q8_0.get_or_init(|| tokens().map(q8_0::quantize_activations).collect());
        let q8_k = || acts.q8_k.get_or_init(|| q8_k_rows(xs, cols));
        match self {
            Matrix::F32 { w, .. } => f32_tiles(w, rows, cols, xs, ys),
            Matrix::Dequantized { act, w, .. } => {
                let xr: Vec<f32> = tokens().flat_map(|x| act.round(x)).collect();
                f32_tiles(w, rows, cols, &xr, ys)
            }
            Matrix::Q8_0 { blocks, .. } | Matrix::Q4_0 { blocks, .. } | Matrix::Q5_0 { blocks, .. } | Matrix::Iq4Nl { blocks, .. } => {
                block_tiles(blocks, rows, q8_0(), ys, kernels::q8_0_matmul)
            }
            Matrix::Q8Min { blocks, .. } => {
                let xq: Vec<_> = tokens().map(legacy::quantize_activations_q8_1).collect();
                let per_row = blocks.len() / rows;
                by_tiles(rows, per_row * size_of::<BlockQ8Min>(), ys, &|r, t, y| {
                    kernels::q8_1_matvec(&blocks[r.start * per_row..r.end * per_row], &xq[t].0, &xq[t].1, y)
                })
            }
            Matrix::Iq4Xs { blocks, .. } => tiles_of(blocks, rows, q8_k(), ys, kernels::iq4_xs_matvec),
            Matrix::Q2K { blocks, .. } => block_tiles(blocks, rows, q8_k(), ys, kernels::q2_k_matmul),
            Matrix::Q3K { blocks, .. } => block_tiles(blocks, rows, q8_k(), ys, kernels::q3_k_matmul),
            Matrix::Q4K { blocks, .. } => block_tiles(blocks, rows, q8_k(), ys, kernels::q4_k_matmul),
            Matrix::Q5K { blocks, .. } => block_tiles(blocks, rows, q8_k(), ys, kernels::q5_k_matmul),
            Matrix::Q6K { blocks, .. } => block_tiles(blocks, rows, q8_k(), ys, kernels::q6_k_matmul),
        }
    }

    /// Row `r` as f32 (`ggml_get_rows`: a Q8_0 row dequantized, d · q).
    pub fn row(&self, r: usize, out: &mut [f32]) {
        match self {
            Matrix::F32 { cols, w, .. } | Matrix::Dequantized { cols, w, .. } => out.copy_from_slice(&w[r * cols..(r + 1) * cols]),
            Matrix::Q8Min { cols, blocks, .. } => {
                let per_row = cols / q8_0::QK;
                legacy::dequantize(&blocks[r * per_row..(r + 1) * per_row], out);
            }
            Matrix::Q8_0 { cols, blocks, .. }
            | Matrix::Q4_0 { cols, blocks, .. }
            | Matrix::Q5_0 { cols, blocks, .. }
            | Matrix::Iq4Nl { cols, blocks, .. } => {
                let per_row = cols / q8_0::QK;
                for (b, chunk) in blocks[r * per_row..(r + 1) * per_row].iter().zip(out.chunks_mut(q8_0::QK)) {
                    for (o, &q) in chunk.iter_mut().zip(&b.qs) {
                        *o = q as f32 * b.d;
                    }
                }
            }
            Matrix::Q2K { cols, blocks, .. } => {
                let per_row = cols / QK_K;
                kquants::q2_k_dequantize(&blocks[r * per_row..(r + 1) * per_row], out);
            }
            Matrix::Q3K { cols, blocks, .. } => {
                let per_row = cols / QK_K;
                kquants::q3_k_dequantize(&blocks[r * per_row..(r + 1) * per_row], out);
            }
            Matrix::Q4K { cols, blocks, .. } => {
                let per_row = cols / QK_K;
                kquants::q4_k_dequantize(&blocks[r * per_row..(r + 1) * per_row], out);
            }
            Matrix::Q5K { cols, blocks, .. } => {
                let per_row = cols / QK_K;
                kquants::q5_k_dequantize(&blocks[r * per_row..(r + 1) * per_row], out);
            }
            Matrix::Q6K { cols, blocks, .. } => {
                let per_row = cols / QK_K;
                kquants::q6_k_dequantize(&blocks[r * per_row..(r + 1) * per_row], out);
            }
            Matrix::Iq4Xs { cols, blocks, .. } => {
                let per_row = cols / QK_K;
                iq4::iq4_xs_dequantize(&blocks[r * per_row..(r + 1) * per_row], out);
            }
        }
    }
}

/// Bytes of weights a tile of [`Matrix::matmul`] holds at most (at least four rows, the SIMD128
/// kernels' group): small enough to stay in a core's L1/L2 cache while every token of the block
/// passes over it.
const TILE_BYTES: usize = 32 * 1024;

/// Multiplies a range of a matrix's rows by one token's input, into that token's outputs of those rows.
type TileFn<'a> = &'a dyn Fn(std::ops::Range<usize>, usize, &mut [f32]);

/// Calls `f(tile rows, token, that token's outputs of those rows)` tile by tile, every token per
/// tile; `ys` holds `ys.len() / rows` tokens' outputs.
fn by_tiles(rows: usize, row_bytes: usize, ys: &mut [f32], f: TileFn) {
    let n = ys.len() / rows;
    let tile = (TILE_BYTES / row_bytes.max(1) / 4 * 4).max(4);
    for r0 in (0..rows).step_by(tile) {
        let r1 = (r0 + tile).min(rows);
        for t in 0..n {
            f(r0..r1, t, &mut ys[t * rows + r0..t * rows + r1]);
        }
    }
}

/// An F32 matrix times every token, tile by tile of rows ([`kernels::f32_matmul`]: the tile's
/// rows against every token, register-blocked).
fn f32_tiles(w: &[f32], rows: usize, cols: usize, xs: &[f32], ys: &mut [f32]) {
    let tile = (TILE_BYTES / (cols * 4).max(1) / 4 * 4).max(4);
    for r0 in (0..rows).step_by(tile) {
        let r1 = (r0 + tile).min(rows);
        kernels::f32_matmul(&w[r0 * cols..r1 * cols], xs, cols, &mut ys[r0..], rows);
    }
}

/// [`by_tiles`] of a block-quantized matrix's `kernel` (a matvec) against each token's quantized activations.
fn tiles_of<W, X>(blocks: &[W], rows: usize, xq: &[Vec<X>], ys: &mut [f32], kernel: fn(&[W], &[X], &mut [f32])) {
    let per_row = blocks.len() / rows;
    by_tiles(rows, per_row * size_of::<W>(), ys, &|r, t, y| kernel(&blocks[r.start * per_row..r.end * per_row], &xq[t], y))
}

/// A tile kernel of [`crate::kernels`]: a tile's rows of blocks, every token's activations, the
/// outputs from the tile's first row on, the outputs' stride (the matrix's rows).
type TileKernel<W, X> = fn(&[W], &[Vec<X>], &mut [f32], usize);

/// A block-quantized matrix times every token's quantized activations, tile by tile of rows
/// (`kernel`: a tile kernel, the tile's rows against every token, register-blocked).
fn block_tiles<W, X>(blocks: &[W], rows: usize, xq: &[Vec<X>], ys: &mut [f32], kernel: TileKernel<W, X>) {
    let per_row = blocks.len() / rows;
    let tile = (TILE_BYTES / (per_row * size_of::<W>()).max(1) / 4 * 4).max(4);
    for r0 in (0..rows).step_by(tile) {
        let r1 = (r0 + tile).min(rows);
        kernel(&blocks[r0 * per_row..r1 * per_row], xq, &mut ys[r0..], rows);
    }
}

/// A block of tokens' activations (token after token) and, once a matrix has made them, their
/// Q8_0 and Q8_K forms ([`Matrix::matmul_shared`]); every matrix given them has the same columns.
pub struct Activations<'a> {
    xs: &'a [f32],
    q8_0: core::cell::OnceCell<Vec<Vec<BlockQ8_0>>>,
    q8_k: core::cell::OnceCell<Vec<Vec<kquants::BlockQ8K>>>,
}

impl<'a> Activations<'a> {
    pub fn new(xs: &'a [f32]) -> Self {
        Activations { xs, q8_0: Default::default(), q8_k: Default::default() }
    }
}

/// Each token's activations quantized to Q8_K.
fn q8_k_rows(xs: &[f32], cols: usize) -> Vec<Vec<kquants::BlockQ8K>> {
    xs.chunks_exact(cols).map(kquants::quantize_activations).collect()
}

/// The tensors of a GGUF file, looked up by name.
pub struct TensorSource<'a> {
    pub file: &'a LazyFile,
}

impl TensorSource<'_> {
    fn find(&self, name: &str) -> Option<usize> {
        self.file.tensors.iter().position(|t| t.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    fn check_shape(&self, name: &str, index: usize, expected: &[usize]) -> Result<()> {
        let found = &self.file.tensors[index].shape;
        let expected: Vec<u64> = expected.iter().map(|&d| d as u64).collect();
        if *found != expected {
            return Err(LlmError::TensorShape { name: name.into(), expected, found: found.clone() });
        }
        Ok(())
    }

    /// A 1-D f32 tensor of `len` values (the norms' weights).
    pub fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        let i = self.find(name).ok_or_else(|| LlmError::MissingTensor(name.into()))?;
        self.check_shape(name, i, &[len])?;
        let t = &self.file.tensors[i];
        if t.dtype != "f32" {
            return Err(LlmError::UnsupportedTensorType { name: name.into(), dtype: t.dtype.clone() });
        }
        Ok(self.file.read_values(i, 0, len)?)
    }

    /// A `rows` × `cols` matrix.
    pub fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Matrix> {
        let i = self.find(name).ok_or_else(|| LlmError::MissingTensor(name.into()))?;
        self.check_shape(name, i, &[rows, cols])?;
        let t = &self.file.tensors[i];
        match t.dtype.as_str() {
            "f32" => Ok(Matrix::F32 { rows, cols, w: self.file.read_values(i, 0, rows * cols)? }),
            "q8_0" => {
                let bytes = self.file.read_stored(i, 0, rows * cols / q8_0::QK * q8_0::BLOCK_BYTES)?;
                Ok(Matrix::Q8_0 { rows, cols, blocks: q8_0::blocks_from_bytes(&bytes) })
            }
            "q4_0" => {
                let bytes = self.file.read_stored(i, 0, rows * cols / q8_0::QK * q4_0::BLOCK_BYTES)?;
                Ok(Matrix::Q4_0 { rows, cols, blocks: q4_0::blocks_from_bytes(&bytes).iter().map(q4_0::unpack).collect() })
            }
            "q5_0" => {
                let bytes = self.file.read_stored(i, 0, rows * cols / q8_0::QK * legacy::Q5_0_BYTES)?;
                Ok(Matrix::Q5_0 { rows, cols, blocks: legacy::q5_0_unpack(&bytes) })
            }
            "q4_1" => {
                let bytes = self.file.read_stored(i, 0, rows * cols / q8_0::QK * legacy::Q4_1_BYTES)?;
                Ok(Matrix::Q8Min { rows, cols, ty: "q4_1", blocks: legacy::q4_1_unpack(&bytes) })
            }
            "q5_1" => {
                let bytes = self.file.read_stored(i, 0, rows * cols / q8_0::QK * legacy::Q5_1_BYTES)?;
                Ok(Matrix::Q8Min { rows, cols, ty: "q5_1", blocks: legacy::q5_1_unpack(&bytes) })
            }
            "q2_k" => {
                let bytes = self.file.read_stored(i, 0, rows * cols / QK_K * kquants::Q2_K_BYTES)?;
                Ok(Matrix::Q2K { rows, cols, blocks: kquants::q2_k_from_bytes(&bytes) })
            }
            "q3_k" => {
                let bytes = self.file.read_stored(i, 0, rows * cols / QK_K * kquants::Q3_K_BYTES)?;
                Ok(Matrix::Q3K { rows, cols, blocks: kquants::q3_k_from_bytes(&bytes) })
            }
            "q4_k" => {
                let bytes = self.file.read_stored(i, 0, rows * cols / QK_K * kquants::Q4_K_BYTES)?;
                Ok(Matrix::Q4K { rows, cols, blocks: kquants::q4_k_from_bytes(&bytes) })
            }
            "q5_k" => {
                let bytes = self.file.read_stored(i, 0, rows * cols / QK_K * kquants::Q5_K_BYTES)?;
                Ok(Matrix::Q5K { rows, cols, blocks: kquants::q5_k_from_bytes(&bytes) })
            }
            "q6_k" => {
                let bytes = self.file.read_stored(i, 0, rows * cols / QK_K * kquants::Q6_K_BYTES)?;
                Ok(Matrix::Q6K { rows, cols, blocks: kquants::q6_k_from_bytes(&bytes) })
            }
            "iq4_nl" => {
                let bytes = self.file.read_stored(i, 0, rows * cols / q8_0::QK * iq4::IQ4_NL_BYTES)?;
                Ok(Matrix::Iq4Nl { rows, cols, blocks: iq4::iq4_nl_unpack(&bytes) })
            }
            "iq4_xs" => {
                let bytes = self.file.read_stored(i, 0, rows * cols / QK_K * iq4::IQ4_XS_BYTES)?;
                Ok(Matrix::Iq4Xs { rows, cols, blocks: iq4::iq4_xs_from_bytes(&bytes) })
            }
            other => {
                let unsupported = || LlmError::UnsupportedTensorType { name: name.into(), dtype: other.into() };
                let act = ActivationRounding::of(other).ok_or_else(unsupported)?;
                let ty = quantscope_core::ggml_types::GGML_TYPES.iter().find(|t| t.name == other).ok_or_else(unsupported)?.name;
                if cols % act.block() != 0 {
                    return Err(unsupported());
                }
                // Q4_1 and Q5_1 blocks: f16 d, f16 m, then the codes (`block_q4_1`, `block_q5_1`).
                Ok(Matrix::Dequantized { rows, cols, ty, act, w: self.file.read_values(i, 0, rows * cols)? })
            }
        }
    }
}

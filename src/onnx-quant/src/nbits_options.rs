//! What weight-only quantization is asked to do ([`NBitsOptions`]: bits, block size, symmetry,
//! format, algorithm, Gathers) and which combinations ONNX Runtime's `MatMulNBitsQuantizer`
//! accepts; shared by the planner ([`crate::nbits`]) and the jobs a pool of workers encodes
//! ([`crate::work`]).

use crate::{QuantizeError, Result};

/// How the quantized weight is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NBitsFormat {
    /// `QuantFormat.QOperator`: com.microsoft MatMulNBits.
    QOperator,
    /// `QuantFormat.QDQ`: opset-21 blocked DequantizeLinear + MatMul.
    Qdq,
}

/// `DefaultWeightOnlyQuantConfig`'s options that quantscope offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NBitsOptions {
    /// Bits per weight: 2, 4 or 8 for MatMulNBits, 4 for QDQ.
    pub bits: u32,
    /// Weights along K quantized together: a power of two from 16 to 256.
    pub block_size: usize,
    /// No zero points: codes centred on 8 (MatMulNBits) or int4 (QDQ).
    pub symmetric: bool,
    /// MatMulNBits' `accuracy_level` attribute (0 leaves it out, as ONNX Runtime does).
    pub accuracy_level: i64,
    pub format: NBitsFormat,
    pub algorithm: NBitsAlgorithm,
    /// `op_types_to_quantize` includes Gather: constant Gather data (embedding tables) become
    /// com.microsoft `GatherBlockQuantized` with int4/uint4 blocks along axis 1.
    pub gather: bool,
}

/// How the weights are rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NBitsAlgorithm {
    /// `DefaultWeightOnlyQuantConfig`: round to nearest with min–max blocks (MLAS).
    Rtn,
    /// `HQQWeightOnlyQuantConfig`: the min–max scale, float zero points from HQQ's solver
    /// ([`crate::hqq`]); MatMulNBits only, always with zero points.
    Hqq,
}

impl Default for NBitsOptions {
    fn default() -> Self {
        // MatMulNBitsQuantizer's defaults: bits 4, block 128, asymmetric, QOperator, RTN
        NBitsOptions {
            bits: 4,
            block_size: 128,
            symmetric: false,
            accuracy_level: 0,
            format: NBitsFormat::QOperator,
            algorithm: NBitsAlgorithm::Rtn,
            gather: false,
        }
    }
}

impl NBitsOptions {
    /// The options MLAS and the MatMulNBits spec accept, or why not.
    pub fn check(&self) -> Result<()> {
        if !matches!(self.bits, 2 | 4 | 8) {
            return Err(QuantizeError::Unsupported(format!(
                "{} bits: MatMulNBits and ONNX Runtime's quantizer pack 2, 4 or 8 bits",
                self.bits
            )));
        }
        if self.format == NBitsFormat::Qdq && self.bits != 4 {
            // matmul_nbits_quantizer.py: "QDQ format only support 4 bits quantization"
            return Err(QuantizeError::Unsupported(format!(
                "{} bits in the QDQ format: ONNX Runtime writes blocked DequantizeLinear weights as int4 only; choose the MatMulNBits format",
                self.bits
            )));
        }
        let b = self.block_size;
        if !(16..=256).contains(&b) || !b.is_power_of_two() {
            return Err(QuantizeError::Unsupported(format!(
                "block size {b}: it must be a power of two from 16 to 256 (16, 32, 64, 128 or 256), as MatMulNBits and ONNX Runtime's MLAS take"
            )));
        }
        if !(0..=4).contains(&self.accuracy_level) {
            return Err(QuantizeError::Unsupported(format!(
                "accuracy level {}: MatMulNBits defines 0 (unset), 1 (fp32), 2 (fp16), 3 (bf16) and 4 (int8)",
                self.accuracy_level
            )));
        }
        if self.algorithm == NBitsAlgorithm::Hqq {
            // HQQWeightOnlyQuantConfig: "HQQ only supports QOperator format"; its zero points are
            // always written and it has no accuracy_level
            let why = if self.format == NBitsFormat::Qdq {
                Some("the QDQ format: ONNX Runtime writes HQQ weights as MatMulNBits only")
            } else if self.symmetric {
                Some("symmetric: HQQ's solver fits each block's float zero point")
            } else if self.accuracy_level != 0 {
                Some("an accuracy level: ONNX Runtime's HQQ config has none")
            } else if self.bits == 8 {
                // matmul_nbits.cc: "MatMulNBits on CPU does not support 8-bit weights with
                // floating-point zero points"
                Some("8 bits: ONNX Runtime's MatMulNBits does not run 8-bit weights with float zero points; HQQ takes 2 or 4")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(QuantizeError::Unsupported(format!("HQQ with {why}")));
            }
        }
        if self.gather {
            // quantize_gather: "Gather only supports QOperator format currently", "Gather only
            // supports 4 bits quantization"; HQQ: "Gather quantization is not supported yet"
            let why = match (self.format, self.bits, self.algorithm) {
                (NBitsFormat::Qdq, _, _) => Some("the QDQ format: ONNX Runtime writes quantized Gathers as GatherBlockQuantized only"),
                (_, b, _) if b != 4 => Some("other than 4 bits: ONNX Runtime quantizes Gather data to 4 bits only"),
                (_, _, NBitsAlgorithm::Hqq) => Some("HQQ: ONNX Runtime's HQQ does not quantize Gather"),
                _ => None,
            };
            if let Some(why) = why {
                return Err(QuantizeError::Unsupported(format!("quantized Gathers with {why}")));
            }
        }
        if self.format == NBitsFormat::Qdq && self.accuracy_level != 0 {
            return Err(QuantizeError::Unsupported("accuracy level is an attribute of MatMulNBits; the QDQ format has none".into()));
        }
        Ok(())
    }
}

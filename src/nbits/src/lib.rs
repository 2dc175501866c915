//! The weight-only INT4 (and INT2/INT8) module (www/pkg-nbits): a person's model as ONNX Runtime's
//! `MatMulNBitsQuantizer` (RTN) writes it (`quantscope_onnx_quant::nbits`), com.microsoft
//! MatMulNBits or blocked int4 DequantizeLinear, loaded by the Run worker when that file is first
//! asked for. A module of its own: in the exporter (www/pkg-export) it would take that from
//! 94,434 to 104,402 B gzipped, past its 100,000 B ceiling. wasm32 only: on other targets the
//! crate is empty.
//!
//! [`NBitsPlan`] and [`encode_nbits_weight`] split the work over the page's pool of workers
//! (www/run/pool.js): the Run worker plans, each pool worker (its own instance of this module)
//! encodes whole weights, and the plan writes the file from them by job number, so the file is
//! the one `quantscope_onnx_quant::nbits::quantize_nbits` writes whatever the number of workers.
#![cfg(target_arch = "wasm32")]

use quantscope_onnx_quant::gptq::{job_from_bytes, job_to_bytes, quantize_weight, GptqOptions, GptqWork};
use quantscope_onnx_quant::nbits::{NBitsAlgorithm, NBitsFormat, NBitsOptions, NBitsWork};
use quantscope_onnx_quant::work::{Encoded, WeightJob, WeightShape};
use quantscope_onnx_quant::QuantizeError;
use quantscope_wasm_common::to_js;
use serde::Serialize;
use wasm_bindgen::prelude::*;

pub use quantscope_wasm_common::wasm_memory_bytes;

/// The quantizer's own reasons; a file the reader refuses (the engine has read it already, so
/// this is rare) is named without the reader's messages, which would be linked in with them.
fn js_err(e: QuantizeError) -> JsError {
    match e {
        QuantizeError::Unsupported(why) | QuantizeError::Calibration(why) => JsError::new(&why),
        QuantizeError::Weight { name, why } => JsError::new(&format!("weight '{name}': {why}")),
        QuantizeError::Model(_) => JsError::new("the file is not an ONNX model quantscope can rewrite"),
    }
}

/// What was done to each MatMul.
#[derive(Serialize)]
struct Report {
    quantized: Vec<String>,
    /// `[node, why]` for each MatMul (or Gemm) left in float.
    kept: Vec<(String, String)>,
}

/// A quantized model file and what was done to its nodes.
#[wasm_bindgen]
pub struct NBitsOnnx {
    bytes: Vec<u8>,
    report: JsValue,
}

#[wasm_bindgen]
impl NBitsOnnx {
    /// The file's bytes.
    #[wasm_bindgen(getter)]
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// `{quantized: [node], kept: [[node, why]]}`.
    #[wasm_bindgen(getter)]
    pub fn report(&self) -> JsValue {
        self.report.clone()
    }
}

/// [`NBitsPlan`]'s options: `bits`-bit weights (2, 4 or 8) in blocks of `block_size` along K,
/// with zero points unless `symmetric`, as com.microsoft MatMulNBits (`format` "qoperator") or
/// blocked int4 DequantizeLinear ("qdq", 4 bits); `method` is "rtn" (round to nearest) or "hqq"
/// (HQQ's float zero points); `gather` quantizes constant Gather tables too
/// (GatherBlockQuantized).
fn options(bits: u32, block_size: u32, symmetric: bool, format: &str, method: &str, gather: bool) -> Result<NBitsOptions, JsError> {
    let format = match format {
        "qoperator" => NBitsFormat::QOperator,
        "qdq" => NBitsFormat::Qdq,
        other => return Err(JsError::new(&format!("the format is qoperator or qdq, not '{other}'"))),
    };
    let algorithm = match method {
        "rtn" => NBitsAlgorithm::Rtn,
        "hqq" => NBitsAlgorithm::Hqq,
        other => return Err(JsError::new(&format!("the method is rtn or hqq, not '{other}'"))),
    };
    Ok(NBitsOptions { bits, block_size: block_size as usize, symmetric, format, algorithm, gather, ..NBitsOptions::default() })
}

/// A model's weight-only quantization cut into one job per weight (`quantscope_onnx_quant::
/// nbits::NBitsWork`): the jobs are encoded here ([`NBitsPlan::encode`]) or by pool workers
/// ([`encode_nbits_weight`], handed back with [`NBitsPlan::accept`]) in any order, then
/// [`NBitsPlan::finish`] writes the file.
#[wasm_bindgen]
pub struct NBitsPlan {
    work: NBitsWork,
    jobs: Vec<WeightJob>,
    encoded: Vec<Option<Encoded>>,
}

#[wasm_bindgen]
impl NBitsPlan {
    /// The model in `bytes` (a whole `.onnx`) planned with [`options`]' options, or why not.
    #[wasm_bindgen(constructor)]
    pub fn new(
        bytes: &[u8],
        bits: u32,
        block_size: u32,
        symmetric: bool,
        format: &str,
        method: &str,
        gather: bool,
    ) -> Result<NBitsPlan, JsError> {
        let options = options(bits, block_size, symmetric, format, method, gather)?;
        let mut work = NBitsWork::plan(bytes, &options).map_err(js_err)?;
        let jobs = work.take_jobs();
        let encoded = vec![None; jobs.len()];
        Ok(NBitsPlan { work, jobs, encoded })
    }

    /// How many weights.
    pub fn count(&self) -> usize {
        self.jobs.len()
    }

    /// Job `i`'s weight (the initializer's name), for messages.
    pub fn job_weight(&self, i: usize) -> Result<String, JsError> {
        Ok(self.job(i)?.weight.clone())
    }

    /// Job `i`'s kind: "matmul" (`job_dims` = `[k, n]`) or "gather" (the table's shape).
    pub fn job_kind(&self, i: usize) -> Result<String, JsError> {
        Ok(match self.job(i)?.shape {
            WeightShape::MatMul { .. } => "matmul".into(),
            WeightShape::Gather { .. } => "gather".into(),
        })
    }

    /// Job `i`'s dimensions (see [`NBitsPlan::job_kind`]).
    pub fn job_dims(&self, i: usize) -> Result<Vec<u32>, JsError> {
        let dims = match &self.job(i)?.shape {
            WeightShape::MatMul { k, n, .. } => vec![*k, *n],
            WeightShape::Gather { shape } => shape.clone(),
        };
        // a weight the plan read has fewer than 2^32 values, so each dimension fits
        Ok(dims.into_iter().map(|d| d as u32).collect())
    }

    /// Job `i`'s B is FLOAT16 (its scales are too).
    pub fn job_half(&self, i: usize) -> Result<bool, JsError> {
        Ok(matches!(self.job(i)?.shape, WeightShape::MatMul { half: true, .. }))
    }

    /// Job `i`'s values count (0 once they are handed out or encoded).
    pub fn job_values(&self, i: usize) -> Result<f64, JsError> {
        Ok(self.job(i)?.values.len() as f64)
    }

    /// Job `i`'s values (a Float32Array), which leave the plan: a job handed out is encoded
    /// elsewhere.
    pub fn take_values(&mut self, i: usize) -> Result<Vec<f32>, JsError> {
        self.job(i)?;
        Ok(std::mem::take(&mut self.jobs[i].values))
    }

    /// Job `i` encoded here.
    pub fn encode(&mut self, i: usize) -> Result<(), JsError> {
        let encoded = self.job(i)?.encode(self.work.options()).map_err(js_err)?;
        self.jobs[i].values = Vec::new();
        self.encoded[i] = Some(encoded);
        Ok(())
    }

    /// Job `i`'s encoding from a pool worker ([`encode_nbits_weight`]'s bytes).
    pub fn accept(&mut self, i: usize, bytes: &[u8]) -> Result<(), JsError> {
        self.job(i)?;
        self.encoded[i] = Some(Encoded::from_bytes(bytes).map_err(js_err)?);
        Ok(())
    }

    /// The file once every job is encoded.
    pub fn finish(self) -> Result<NBitsOnnx, JsError> {
        let missing = self.encoded.iter().filter(|e| e.is_none()).count();
        if missing > 0 {
            return Err(JsError::new(&format!("{missing} of {} weights are not encoded yet", self.encoded.len())));
        }
        let (bytes, report) = self.work.finish(self.encoded.into_iter().flatten().collect()).map_err(js_err)?;
        let report = to_js(&Report { quantized: report.quantized, kept: report.kept })?;
        Ok(NBitsOnnx { bytes, report })
    }

    fn job(&self, i: usize) -> Result<&WeightJob, JsError> {
        self.jobs.get(i).ok_or_else(|| JsError::new(&format!("no weight job {i}: the plan has {}", self.jobs.len())))
    }
}

/// One weight of an [`NBitsPlan`] encoded in a pool worker: `kind`, `dims` and `half` as its
/// header gives them, its values, and the plan's options; the bytes go back to
/// [`NBitsPlan::accept`].
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn encode_nbits_weight(
    weight: &str,
    kind: &str,
    dims: Vec<u32>,
    half: bool,
    values: Vec<f32>,
    bits: u32,
    block_size: u32,
    symmetric: bool,
    format: &str,
    method: &str,
) -> Result<Vec<u8>, JsError> {
    let dims: Vec<usize> = dims.into_iter().map(|d| d as usize).collect();
    let shape = match (kind, dims.as_slice()) {
        ("matmul", &[k, n]) => WeightShape::MatMul { k, n, half },
        ("gather", _) => WeightShape::Gather { shape: dims },
        _ => return Err(JsError::new(&format!("a weight job is a matmul of 2 dimensions or a gather, not a {kind} of {}", dims.len()))),
    };
    let options = options(bits, block_size, symmetric, format, method, kind == "gather")?;
    let job = WeightJob { weight: weight.to_string(), shape, values };
    Ok(job.encode(&options).map_err(js_err)?.to_bytes())
}

/// One weight's output error on the calibration data, GPTQ's file against round to nearest.
#[derive(Serialize)]
struct LayerError {
    matmul: String,
    gptq: Option<f64>,
    rtn: Option<f64>,
}

/// What GPTQ did to each MatMul, and each quantized one's output error.
#[derive(Serialize)]
struct GptqReport {
    quantized: Vec<String>,
    kept: Vec<(String, String)>,
    errors: Vec<LayerError>,
}

/// ONNX Runtime's GPTQ (`quantscope_onnx_quant::gptq::GptqWork`, `GPTQWeightOnlyQuantConfig`) of
/// a person's model, in steps the Run worker drives: [`GptqPlan::calibration_model`] is run by
/// the engine on the calibration inputs, each A tensor's value goes to [`GptqPlan::observe`],
/// then [`GptqPlan::quantize`] one weight at a time (progress and Cancel between them) and
/// [`GptqPlan::finish`] writes the file (an [`NBitsOnnx`], its report with `errors`).
#[wasm_bindgen]
pub struct GptqPlan {
    work: GptqWork,
}

#[wasm_bindgen]
impl GptqPlan {
    /// The model in `bytes` planned: 4-bit blocks of `block_size`, `symmetric` or with zero
    /// points, GPTQ's `percdamp`, lazy block `gptq_block`, `actorder`, `mse`, `perchannel`, and
    /// `error_feedback` (the paper's update, which ONNX Runtime 1.32's GPTQ leaves out).
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        bytes: &[u8],
        block_size: u32,
        symmetric: bool,
        percdamp: f64,
        gptq_block: u32,
        actorder: bool,
        mse: bool,
        perchannel: bool,
        error_feedback: bool,
    ) -> Result<GptqPlan, JsError> {
        let options = gptq_options(block_size, symmetric, percdamp, gptq_block, actorder, mse, perchannel, error_feedback);
        Ok(GptqPlan { work: GptqWork::plan(bytes, &options).map_err(js_err)? })
    }

    /// The tensors (MatMuls' A) whose calibration values [`GptqPlan::observe`] needs.
    pub fn activations(&self) -> Vec<String> {
        self.work.activations()
    }

    /// The float model (`bytes`, the file planned) with those tensors as outputs.
    pub fn calibration_model(&self, bytes: &[u8]) -> Result<Vec<u8>, JsError> {
        self.work.calibration_model(bytes).map_err(js_err)
    }

    /// One calibration item's value of `tensor`.
    pub fn observe(&mut self, tensor: &str, shape: Vec<u32>, values: &[f32]) -> Result<(), JsError> {
        let shape: Vec<usize> = shape.into_iter().map(|d| d as usize).collect();
        self.work.observe(tensor, &shape, values).map_err(js_err)
    }

    /// How many weights.
    pub fn count(&self) -> usize {
        self.work.weights()
    }

    /// Weight `i` quantized here.
    pub fn quantize(&mut self, i: usize) -> Result<(), JsError> {
        self.index(i)?;
        self.work.quantize(i).map_err(js_err)
    }

    // The pool's job interface (www/run/pool.js `encodeWeights`, as NBitsPlan's): each weight a
    // MatMul's B with its A's Hessian, quantized by `gptq_encode_weight` in a pool worker. The
    // header getters take indices below count() (the pool's own loop) and need no error path.

    /// Job `i`'s MatMul, for messages.
    pub fn job_weight(&self, i: usize) -> String {
        self.work.weight_label(i)
    }

    /// Always "matmul": GPTQ quantizes MatMuls' B.
    pub fn job_kind(&self) -> String {
        "matmul".into()
    }

    /// Job `i`'s `[k, n]`.
    pub fn job_dims(&self, i: usize) -> Vec<u32> {
        let (_, k, n, _, _) = self.work.job(i);
        vec![k as u32, n as u32]
    }

    /// Always false: GPTQ takes FLOAT weights.
    pub fn job_half(&self) -> bool {
        false
    }

    /// Job `i`'s values count.
    pub fn job_values(&self, i: usize) -> f64 {
        self.work.job(i).3.len() as f64
    }

    /// Job `i`'s values (a copy: its A's Hessian may serve other weights too).
    pub fn take_values(&self, i: usize) -> Result<Vec<f32>, JsError> {
        self.index(i)?;
        self.work.ready(i).map_err(js_err)?;
        Ok(self.work.job(i).3.to_vec())
    }

    /// Job `i`'s A's Hessian `[k, k]` (a Float64Array).
    pub fn take_hessian(&self, i: usize) -> Result<Vec<f64>, JsError> {
        self.index(i)?;
        Ok(self.work.job(i).4.to_vec())
    }

    /// Job `i` quantized here (the pool's one-worker path).
    pub fn encode(&mut self, i: usize) -> Result<(), JsError> {
        self.quantize(i)
    }

    /// Job `i` from a pool worker (`gptq_encode_weight`'s bytes).
    pub fn accept(&mut self, i: usize, bytes: &[u8]) -> Result<(), JsError> {
        self.index(i)?;
        let (encoded, gptq, rtn) = job_from_bytes(bytes).map_err(js_err)?;
        self.work.accept(i, encoded, gptq, rtn).map_err(js_err)
    }

    fn index(&self, i: usize) -> Result<(), JsError> {
        if i >= self.work.weights() {
            return Err(JsError::new(&format!("no weight {i}: the plan has {}", self.work.weights())));
        }
        Ok(())
    }

    /// The file (consumes the plan).
    pub fn finish(self) -> Result<NBitsOnnx, JsError> {
        let (bytes, report, errors) = self.work.finish().map_err(js_err)?;
        let errors = errors.into_iter().map(|e| LayerError { matmul: e.matmul, gptq: e.gptq, rtn: e.rtn }).collect();
        let report = to_js(&GptqReport { quantized: report.quantized, kept: report.kept, errors })?;
        Ok(NBitsOnnx { bytes, report })
    }
}

/// GPTQWeightOnlyQuantConfig's options with the quantizer's block size and symmetry (MatMulNBits'
/// accuracy_level is not set from the page).
#[allow(clippy::too_many_arguments)]
fn gptq_options(
    block_size: u32,
    symmetric: bool,
    percdamp: f64,
    gptq_block: u32,
    actorder: bool,
    mse: bool,
    perchannel: bool,
    error_feedback: bool,
) -> GptqOptions {
    GptqOptions {
        block_size: block_size as usize,
        symmetric,
        accuracy_level: 0,
        percdamp,
        gptq_block: gptq_block as usize,
        actorder,
        mse,
        perchannel,
        error_feedback,
    }
}

/// One weight of a [`GptqPlan`] quantized in a pool worker: its MatMul (for messages), `[k, n]`,
/// values and A's Hessian, and the plan's options; the bytes go back to [`GptqPlan::accept`].
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn gptq_encode_weight(
    weight: &str,
    dims: Vec<u32>,
    values: Vec<f32>,
    hessian: Vec<f64>,
    block_size: u32,
    symmetric: bool,
    percdamp: f64,
    gptq_block: u32,
    actorder: bool,
    mse: bool,
    perchannel: bool,
    error_feedback: bool,
) -> Result<Vec<u8>, JsError> {
    let &[k, n] = dims.as_slice() else {
        return Err(JsError::new(&format!("a GPTQ job is a [k, n] MatMul weight, not one of {} dimensions", dims.len())));
    };
    let options = gptq_options(block_size, symmetric, percdamp, gptq_block, actorder, mse, perchannel, error_feedback);
    options.check().map_err(js_err)?;
    let (encoded, error) = quantize_weight(weight, weight, &values, k as usize, n as usize, &hessian, &options).map_err(js_err)?;
    Ok(job_to_bytes(&encoded, &error))
}

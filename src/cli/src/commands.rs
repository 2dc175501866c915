//! The commands, their arguments and their output.

use quantscope_core::report::{self, SchemeReport, TensorReport};
use quantscope_core::schemes::{self, int::IntScheme, Scheme};
use quantscope_core::Tensor;
use quantscope_formats as formats;
use quantscope_formats::onnx::weights::{WeightInfo, MAIN_GRAPH};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage:
  quantscope inspect FILE... [--json]
  quantscope compare FILE [--tensor NAME] [--scheme ID|all]... [--axis N] [--json]
  quantscope quantize FILE [--tensor NAME] --scheme ID [--axis N] --out OUT.bin [--dequantized DEQ.npy]
  quantscope schemes [--json]
  quantscope export MODEL --scheme TYPE --out OUT.gguf   (TYPE: a ggml type, e.g. q4_0, q4_k, q8_0, f16)
  quantscope export MODEL.gguf --type FTYPE --out OUT.gguf [--imatrix IMATRIX] [--pure] [--output-tensor-type T]
      [--token-embedding-type T] [--tensor-type PATTERN=T]... [--leave-output-tensor] [--dry-run]
  quantscope export MODEL.gguf (--fit-bpw BPW | --fit-size SIZE) --out OUT.gguf [--imatrix IMATRIX] [--dry-run]
      (fit a size: the per-tensor types of least total (importance-weighted) error within BPW bits per weight
       or SIZE (12MB, 700KiB, bytes), set beside every named mix;
       FTYPE: a llama-quantize file type, e.g. Q4_K_M, Q3_K_S, Q8_0: its per-tensor mix, as llama-quantize writes it;
       IMATRIX: an importance matrix from llama-imatrix, .gguf or legacy .dat)
  quantscope imatrix IMATRIX [--tensor NAME] [--top N] [--json]   (an importance matrix's entries)
  quantscope compare FILE --tensor NAME --imatrix IMATRIX [--scheme ID]...
      (adds the importance-weighted MSE, and each type that takes an imatrix quantized with it)
  quantscope quantize-onnx MODEL.onnx --out OUT.onnx [--weight-type int8|uint8] [--per-channel] [--reduce-range] [--subgraphs]
      (ONNX Runtime's quantize_dynamic: MatMulInteger/ConvInteger, LSTM as DynamicQuantizeLSTM; the file ONNX Runtime's quantizer writes)
  quantscope quantize-onnx MODEL.onnx --out OUT.onnx --static --calibration [NAME=]C.npy... [--per-channel]
      [--activation-type uint8|int8] [--calibrate-method minmax|percentile|entropy|distribution]
      [--percentile P] [--bins N] [--quantized-bins N] [--symmetric-range true|false] [--force-quantize-no-input-check]
      (ONNX Runtime's quantize_static, QDQ format: int8 weights, activations calibrated over the calibration
       inputs, run as one batch, as its calibrate_method computes it; --percentile (default 99.999) and
       --symmetric-range (histogram of |x|, default true) are Percentile's, --bins the histogram's bins (default
       2048, Entropy 128), --quantized-bins Entropy's (default 128); --force-quantize-no-input-check is its
       ForceQuantizeNoInputCheck: Transpose, Reshape, MaxPool, Where, Gather, ... quantized even when what feeds
       them is not)
  quantscope quantize-onnx MODEL.onnx --out OUT.onnx --nbits 2|4|8 [--block-size 16|32|64|128|256] [--symmetric]
      [--format qoperator|qdq] [--accuracy-level 0-4] [--quant-method rtn|hqq|gptq] [--quantize-gather]
      (ONNX Runtime's MatMulNBitsQuantizer, RTN or HQQ (2 or 4 bits, MatMulNBits, float zero points): each MatMul with a constant float B (2-D, or with unit leading
       dimensions) gets 2-, 4- or 8-bit weights in blocks of --block-size (default 128) along K, with zero points
       unless --symmetric; qoperator (default): com.microsoft MatMulNBits; qdq (4 bits only): blocked int4/uint4
       DequantizeLinear + MatMul (opset 21); --quantize-gather: constant Gather tables too, as int4/uint4
       com.microsoft GatherBlockQuantized in blocks along axis 1)
  quantscope quantize-onnx MODEL.onnx --out OUT.onnx --nbits 4 --quant-method gptq --calibration [NAME=]C.npy...
      [--block-size N] [--symmetric] [--accuracy-level 0-4] [--percdamp 0.01] [--gptq-block-size 128] [--act-order]
      [--mse] [--per-tensor] [--calibration-batch B] [--error-feedback]
      (ONNX Runtime's GPTQWeightOnlyQuantConfig: the float model runs on the calibration inputs (one item, or items
       of B rows along the first axis with --calibration-batch, as a CalibrationDataReader gives them), each MatMul's
       input gives its Hessian, and GPTQ's 4-bit MatMulNBits weights are written as ONNX Runtime writes them;
       ONNX Runtime 1.32's GPTQ moves no rounding error onward: --error-feedback adds the paper's update)
  quantscope quantize-onnx MODEL.onnx --out OUT.onnx (--fp16 | --bf16)
      (float32 weights in half precision, float32 inputs and outputs kept by Casts:
       onnxconverter_common's convert_float_to_float16(keep_io_types=True), or the same with BFLOAT16)
  quantscope eval [--model MODEL.onnx] [--data TEST.npz] [--json]
  quantscope run MODEL.onnx --input [NAME=]X.npy... [--scheme VARIANT] [--calibration [NAME=]C.npy...] [--out Y.npy|Y.npz]
      (VARIANT: fp32, int8_dynamic[_channel], int8_static[_percentile|_entropy|_mse], int4_dynamic,
       or any scheme id for weight-only; int8_static calibrates on --calibration, else on the inputs)
  quantscope generate MODEL.gguf --prompt TEXT [--tokens N] [--seed S [--temperature T] [--top-k K]] [--ctx N]
      (a llama GGUF with F32 or Q8_0 matrices; greedy unless --seed)
  quantscope perplexity MODEL.gguf --text FILE [--ctx N] [--chunks N] [--json]
      (as llama-perplexity: chunks of --ctx tokens, default the model's context, second halves scored)
  quantscope kl-divergence BASE.gguf MODEL.gguf --text FILE [--ctx N] [--chunks N] [--json]
      (as llama-perplexity --kl-divergence-base then --kl-divergence: MODEL's next-token distribution against BASE's)
  quantscope make-imatrix MODEL.gguf --text FILE --out IMATRIX.gguf [--ctx N] [--chunks N]
      (as llama-imatrix: Σx² per input column of every blk.* matrix over chunks of --ctx tokens, in its GGUF layout)
  quantscope make-imatrix MODEL.onnx --calibration [NAME=]C.npy... --out IMATRIX.gguf
      (the same statistics for every MatMul/Gemm weight of an ONNX model, over one batch of calibration inputs)
  quantscope gptq MODEL.gguf --text FILE --out OUT.gguf [--grid q4_0|int4|int3|int2] [--group N] [--sym]
      [--act-order] [--ctx N] [--chunks N] [--rtn-out RTN.gguf] [--json]
      (GPTQ of every blk.* matrix of an F32 llama GGUF, layer by layer on --text (the IST-DASLab reference's
       fasterquant, true-sequential); q4_0 (default, groups of 32) writes llama-quantize's Q4_0 file with
       GPTQ's blocks; intB keeps the dequantized values in an F32 file; --rtn-out: round-to-nearest's file)
  quantscope awq MODEL.gguf --text FILE --out AWQ-F32.gguf [--type FTYPE --quantized-out OUT.gguf] [--grid q4_0|awq]
      [--group N] [--no-clip] [--rounded-out R.gguf] [--rtn-out RTN.gguf] [--ctx N] [--chunks N] [--json]
      (AWQ of an F32 llama GGUF, layer by layer on --text (llm-awq's run_awq: activation-aware scales of
       attn_norm → q,k,v; v → o (not under grouped-query attention); ffn_norm → gate,up; up → down; then the
       clip of every matrix but q and k), written as an F32 file (norms divided, matrix columns multiplied);
       --type: then llama-quantize's FTYPE mix of it into --quantized-out (AWQ + e.g. Q4_0);
       --grid: what the searches round with: q4_0 (default: groups of 32, what a Q4_0 file rounds) or awq
       (llm-awq's 4-bit zero-point grid, groups of --group, default 128); --no-clip: scales only;
       --rounded-out / --rtn-out: the layer matrices rounded onto that grid, AWQ's or the original's, in F32 files)";

#[derive(Default)]
struct Args {
    command: String,
    files: Vec<PathBuf>,
    tensor: Option<String>,
    schemes: Vec<String>,
    axis: Option<usize>,
    out: Option<PathBuf>,
    dequantized: Option<PathBuf>,
    model: Option<PathBuf>,
    data: Option<PathBuf>,
    json: bool,
    inputs: Vec<String>,
    calibration: Vec<String>,
    /// `export --type`: a llama-quantize file type, and its options.
    file_type: Option<String>,
    mix: Vec<(String, String)>,
    dry_run: bool,
    /// `export --fit-bpw` / `--fit-size`: which, and the target as given.
    fit: Vec<(&'static str, String)>,
    /// `quantize-onnx`: `--weight-type`, `--per-channel`, `--reduce-range`.
    weight_type: Option<String>,
    /// `quantize-onnx --fp16` / `--bf16`: a half-precision copy instead of dynamic INT8.
    half: Option<&'static str>,
    /// `quantize-onnx --static`: QDQ with calibration, its activation type and method.
    static_qdq: bool,
    activation_type: Option<String>,
    method: Option<String>,
    /// `quantize-onnx --static`: the calibration's options (ONNX Runtime's `extra_options`).
    percentile: Option<f64>,
    bins: Option<usize>,
    quantized_bins: Option<usize>,
    symmetric_range: Option<bool>,
    /// `quantize-onnx --static --force-quantize-no-input-check` (ONNX Runtime's extra option).
    force_quantize_no_input_check: bool,
    per_channel: bool,
    reduce_range: bool,
    /// `quantize-onnx --subgraphs`: quantize inside If/Loop/Scan too (ONNX Runtime's `EnableSubgraph`).
    subgraphs: bool,
    /// `quantize-onnx --nbits`: weight-only blocked quantization, and its options.
    nbits: Option<u32>,
    /// `quantize-onnx --nbits --quant-method rtn|hqq` (ONNX Runtime's `--quant_method`).
    quant_method: Option<String>,
    /// `quantize-onnx --nbits 4 --quantize-gather`: Gather data too (`op_types_to_quantize`).
    quantize_gather: bool,
    /// `quantize-onnx --nbits 4 --quant-method gptq`: GPTQWeightOnlyQuantConfig's options, and
    /// the calibration items' batch (`--calibration-batch`).
    percdamp: Option<f64>,
    gptq_block_size: Option<usize>,
    mse: bool,
    per_tensor: bool,
    /// `quantize-onnx --quant-method gptq --error-feedback`: the paper's GPTQ update.
    error_feedback: bool,
    calibration_batch: Option<usize>,
    block_size: Option<usize>,
    symmetric: bool,
    quant_format: Option<String>,
    accuracy_level: Option<i64>,
    /// `--imatrix`: an importance matrix (export --type, compare); `--top` for `imatrix`.
    imatrix: Option<PathBuf>,
    top: Option<usize>,
    /// `generate` / `perplexity`.
    prompt: Option<String>,
    text: Option<PathBuf>,
    tokens: Option<usize>,
    ctx: Option<usize>,
    chunks: Option<usize>,
    seed: Option<u64>,
    temperature: Option<f32>,
    top_k: Option<usize>,
    /// `gptq`: the grid, group size, symmetry, act-order and round-to-nearest's file.
    grid: Option<String>,
    group: Option<usize>,
    sym: bool,
    act_order: bool,
    rtn_out: Option<PathBuf>,
    /// `awq`: the quantized file's path, and the scales without the clip.
    quantized_out: Option<PathBuf>,
    rounded_out: Option<PathBuf>,
    no_clip: bool,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args::default();
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("json") => args.json = true,
            Long("tensor") => args.tensor = Some(parser.value()?.string()?),
            Long("scheme") => args.schemes.push(parser.value()?.string()?),
            Long("axis") => args.axis = Some(parser.value()?.parse()?),
            Long("out") => args.out = Some(parser.value()?.into()),
            Long("dequantized") => args.dequantized = Some(parser.value()?.into()),
            Long("model") => args.model = Some(parser.value()?.into()),
            Long("data") => args.data = Some(parser.value()?.into()),
            Long("input") => args.inputs.push(parser.value()?.string()?),
            Long("calibration") => args.calibration.push(parser.value()?.string()?),
            Long("type") => args.file_type = Some(parser.value()?.string()?),
            Long("pure") => args.mix.push(("pure".into(), String::new())),
            Long("leave-output-tensor") => args.mix.push(("leave-output-tensor".into(), String::new())),
            Long(o @ ("output-tensor-type" | "token-embedding-type" | "tensor-type")) => {
                let o = o.to_string();
                args.mix.push((o, parser.value()?.string()?));
            }
            Long("dry-run") => args.dry_run = true,
            Long("fit-bpw") => args.fit.push(("bpw", parser.value()?.string()?)),
            Long("fit-size") => args.fit.push(("size", parser.value()?.string()?)),
            Long("weight-type") => args.weight_type = Some(parser.value()?.string()?),
            Long("per-channel") => args.per_channel = true,
            Long("fp16") => args.half = Some("fp16"),
            Long("bf16") => args.half = Some("bf16"),
            Long("reduce-range") => args.reduce_range = true,
            Long("subgraphs") => args.subgraphs = true,
            Long("nbits") => args.nbits = Some(parser.value()?.parse()?),
            Long("quant-method") => args.quant_method = Some(parser.value()?.string()?),
            Long("quantize-gather") => args.quantize_gather = true,
            Long("percdamp") => args.percdamp = Some(parser.value()?.parse()?),
            Long("gptq-block-size") => args.gptq_block_size = Some(parser.value()?.parse()?),
            Long("mse") => args.mse = true,
            Long("per-tensor") => args.per_tensor = true,
            Long("error-feedback") => args.error_feedback = true,
            Long("calibration-batch") => args.calibration_batch = Some(parser.value()?.parse()?),
            Long("block-size") => args.block_size = Some(parser.value()?.parse()?),
            Long("symmetric") => args.symmetric = true,
            Long("format") => args.quant_format = Some(parser.value()?.string()?),
            Long("accuracy-level") => args.accuracy_level = Some(parser.value()?.parse()?),
            Long("static") => args.static_qdq = true,
            Long("activation-type") => args.activation_type = Some(parser.value()?.string()?),
            Long("method" | "calibrate-method") => args.method = Some(parser.value()?.string()?),
            Long("percentile") => args.percentile = Some(parser.value()?.parse()?),
            Long("bins") => args.bins = Some(parser.value()?.parse()?),
            Long("quantized-bins") => args.quantized_bins = Some(parser.value()?.parse()?),
            Long("symmetric-range") => args.symmetric_range = Some(parser.value()?.parse()?),
            Long("force-quantize-no-input-check") => args.force_quantize_no_input_check = true,
            Long("imatrix") => args.imatrix = Some(parser.value()?.into()),
            Long("top") => args.top = Some(parser.value()?.parse()?),
            Long("prompt") => args.prompt = Some(parser.value()?.string()?),
            Long("text") => args.text = Some(parser.value()?.into()),
            Long("tokens") => args.tokens = Some(parser.value()?.parse()?),
            Long("ctx") => args.ctx = Some(parser.value()?.parse()?),
            Long("chunks") => args.chunks = Some(parser.value()?.parse()?),
            Long("seed") => args.seed = Some(parser.value()?.parse()?),
            Long("temperature") => args.temperature = Some(parser.value()?.parse()?),
            Long("top-k") => args.top_k = Some(parser.value()?.parse()?),
            Long("grid") => args.grid = Some(parser.value()?.string()?),
            Long("group") => args.group = Some(parser.value()?.parse()?),
            Long("sym") => args.sym = true,
            Long("act-order") => args.act_order = true,
            Long("rtn-out") => args.rtn_out = Some(parser.value()?.into()),
            Long("quantized-out") => args.quantized_out = Some(parser.value()?.into()),
            Long("no-clip") => args.no_clip = true,
            Long("rounded-out") => args.rounded_out = Some(parser.value()?.into()),
            Short('h') | Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            Value(v) if args.command.is_empty() => args.command = v.string()?,
            Value(v) => args.files.push(v.into()),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(args)
}

/// A failure with the message to print and the exit code.
struct Failure(String, u8);

fn bad_input(msg: impl std::fmt::Display) -> Failure {
    Failure(msg.to_string(), 1)
}

fn usage(msg: impl std::fmt::Display) -> Failure {
    Failure(format!("{msg}\n{USAGE}"), 2)
}

fn load(path: &PathBuf) -> Result<Vec<Tensor>, Failure> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| bad_input(format!("{name}: {e}")))?;
    if name.ends_with(".safetensors.index.json") {
        return load_sharded(path, &bytes);
    }
    formats::load(&name, &bytes).map_err(|e| bad_input(format!("{name}: {e}")))
}

/// The shard files a parsed `*.safetensors.index.json` names (its `weight_map`'s values, once
/// each), with their paths beside the index.
fn shard_paths(index_path: &std::path::Path, index: &serde_json::Value) -> Vec<(String, PathBuf)> {
    let mut names: Vec<String> =
        index["weight_map"].as_object().map(|m| m.values().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default();
    names.sort();
    names.dedup();
    let dir = index_path.parent().unwrap_or(std::path::Path::new("."));
    names
        .into_iter()
        .map(|s| {
            let path = dir.join(&s);
            (s, path)
        })
        .collect()
}

/// A sharded safetensors checkpoint: the shards the index names, read from beside it.
fn load_sharded(index_path: &std::path::Path, index: &[u8]) -> Result<Vec<Tensor>, Failure> {
    let name = index_path.display().to_string();
    let parsed: serde_json::Value = serde_json::from_slice(index).map_err(|e| bad_input(format!("{name}: {e}")))?;
    // A shard that cannot be read is left out, so the parser names the missing one.
    let shards: Vec<(String, Vec<u8>)> =
        shard_paths(index_path, &parsed).into_iter().filter_map(|(s, path)| std::fs::read(path).ok().map(|b| (s, b))).collect();
    let pairs: Vec<(&str, &[u8])> = shards.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    formats::safetensors::load_sharded(index, &pairs).map(|f| f.tensors).map_err(|e| bad_input(format!("{name}: {e}")))
}

fn pick_tensor(mut tensors: Vec<Tensor>, wanted: &Option<String>) -> Result<Tensor, Failure> {
    match wanted {
        None => tensors.into_iter().next().ok_or_else(|| bad_input("the file holds no tensors")),
        Some(name) => match tensors.iter().position(|t| &t.name == name) {
            Some(i) => Ok(tensors.swap_remove(i)),
            None => Err(bad_input(quantscope_formats::Error::UnknownTensor(name.clone()))),
        },
    }
}

/// Resolves a scheme id, applying `--axis` to per-channel integer schemes.
fn scheme(id: &str, axis: Option<usize>) -> Result<Box<dyn Scheme>, Failure> {
    if let (Some(axis), Some(int)) = (axis, IntScheme::from_id(id)) {
        if matches!(int.granularity, schemes::int::Granularity::Channel { .. }) {
            return Ok(Box::new(int.with_axis(axis)));
        }
    }
    schemes::by_id(id).map_err(bad_input)
}

fn scheme_ids(args: &Args) -> Vec<String> {
    if args.schemes.is_empty() || args.schemes.iter().any(|s| s == "all") {
        schemes::all_ids()
    } else {
        args.schemes.clone()
    }
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() { "-".into() } else { "inf".into() };
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:.4e}")
    } else {
        format!("{v:.6}").trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn print_json<T: Serialize>(value: &T) {
    println!("{}", serde_json::to_string_pretty(value).expect("reports serialize"));
}

/// A file opened lazily (src/formats/src/lazy.rs): safetensors and GGUF headers only, so a 2 GB
/// model is never read whole; a `*.safetensors.index.json` with its shards from beside it.
fn open_lazily(path: &PathBuf) -> Result<formats::lazy::LazyFile, Failure> {
    use formats::bytesource::{ByteSource, FileSource};
    use std::rc::Rc;
    let name = path.display().to_string();
    let named = |e: quantscope_formats::Error| bad_input(format!("{name}: {e}"));
    if !name.ends_with(".safetensors.index.json") {
        let source = FileSource::open(path).map_err(|e| bad_input(format!("{name}: {e}")))?;
        return formats::lazy::open(&name, Rc::new(source)).map_err(named);
    }
    let index = std::fs::read(path).map_err(|e| bad_input(format!("{name}: {e}")))?;
    // Bad JSON is left to the reader, which says what is wrong with it.
    let parsed: serde_json::Value = serde_json::from_slice(&index).unwrap_or_default();
    // A shard that cannot be opened is left out, so the reader names the missing one.
    let shards: Vec<(String, Rc<dyn ByteSource>)> = shard_paths(path, &parsed)
        .into_iter()
        .filter_map(|(s, p)| FileSource::open(&p).ok().map(|f| (s, Rc::new(f) as Rc<dyn ByteSource>)))
        .collect();
    formats::lazy::open_sharded(&name, &index, shards).map_err(named)
}

/// Every tensor's report with its statistics streamed from disk a chunk at a time.
/// Every tensor's report, and an ONNX model's weight descriptions (one per tensor; empty for
/// other formats).
fn streamed_reports(path: &PathBuf) -> Result<(Vec<TensorReport>, Vec<WeightInfo>), Failure> {
    let name = path.display().to_string();
    let file = open_lazily(path)?;
    let summaries = file.summaries().map_err(|e| bad_input(format!("{name}: {e}")))?;
    let reports = file
        .tensors
        .iter()
        .zip(summaries)
        .map(|(t, stats)| TensorReport {
            name: t.name.clone(),
            dtype: t.dtype.clone(),
            shape: t.shape.iter().map(|&d| d as usize).collect(),
            stored_bytes: t.stored_bytes(),
            stats,
        })
        .collect();
    Ok((reports, file.weights))
}

/// `Conv ×2, MatMul ×3`: how many weights each op type reads, in order of first appearance.
fn group_counts(weights: &[WeightInfo]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for g in weights.iter().flat_map(|w| &w.groups) {
        match counts.iter_mut().find(|(o, _)| *o == g) {
            Some((_, c)) => *c += 1,
            None => counts.push((g, 1)),
        }
    }
    counts.iter().map(|(g, c)| format!("{g} ×{c}")).collect::<Vec<_>>().join(", ")
}

fn inspect(args: &Args) -> Result<(), Failure> {
    if args.files.is_empty() {
        return Err(usage("inspect needs at least one FILE"));
    }
    #[derive(Serialize)]
    struct FileReport {
        file: String,
        tensors: Vec<TensorReport>,
        /// ONNX models: each tensor's label, graph, readers and groups, in the same order.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        weights: Vec<WeightInfo>,
    }
    let mut out = Vec::new();
    for path in &args.files {
        let (tensors, weights) = streamed_reports(path)?;
        out.push(FileReport { file: path.display().to_string(), tensors, weights });
    }
    if args.json {
        print_json(&out);
        return Ok(());
    }
    for f in &out {
        println!("{}", f.file);
        if !f.weights.is_empty() {
            println!("  weights by the op that reads them: {}", group_counts(&f.weights));
        }
        for (i, t) in f.tensors.iter().enumerate() {
            if let Some(w) = f.weights.get(i) {
                let place = if w.graph == MAIN_GRAPH { String::new() } else { format!(", in {}", w.graph) };
                println!("  {}  ({}{place})", w.label, w.source);
            }
            let s = &t.stats;
            println!(
                "  {}  {} {:?}  min {}  max {}  mean {}  std {}  NaN {}  Inf {}",
                t.name,
                t.dtype,
                t.shape,
                fmt_num(s.min),
                fmt_num(s.max),
                fmt_num(s.mean),
                fmt_num(s.std),
                s.nan_count,
                s.inf_count
            );
        }
    }
    Ok(())
}

/// The importance weights of `tensor` in the imatrix at `path`: its entry, one weight per column
/// of its rows (dense tensors; an expert-stacked entry is refused here).
fn tensor_importance(path: &PathBuf, tensor: &Tensor) -> Result<Vec<f32>, Failure> {
    let m = read_imatrix(path)?;
    let e = m.get(&tensor.name).ok_or_else(|| {
        bad_input(format!(
            "{}: no entry for tensor '{}' ({} entries; `quantscope imatrix` lists them)",
            path.display(),
            tensor.name,
            m.entries.len()
        ))
    })?;
    let columns = tensor.shape.last().copied().unwrap_or(0);
    if e.values.len() != columns {
        return Err(bad_input(format!(
            "{}: the entry for '{}' has {} weights ({} expert(s) of {} columns) but the tensor's rows have {columns} values",
            path.display(),
            tensor.name,
            e.values.len(),
            e.experts(),
            e.columns()
        )));
    }
    Ok(e.values.clone())
}

/// A scheme's report when quantized with importance weights (`quantize_with_importance`).
fn weighted_report(tensor: &Tensor, id: &str, importance: &[f32]) -> Result<(SchemeReport, Vec<f32>), Failure> {
    let q = schemes::quantize_with_importance(id, &tensor.data, &tensor.shape, importance).map_err(bad_input)?;
    let metrics = quantscope_core::stats::metrics::error_metrics(&tensor.data, &q.dequantized);
    let n = tensor.data.len().max(1);
    let finite = metrics.compared.max(1);
    let report = SchemeReport {
        scheme: format!("{id}+imatrix"),
        description: format!(
            "{} (with the importance matrix, as llama-quantize --imatrix)",
            schemes::by_id(id).map_err(bad_input)?.description()
        ),
        metrics,
        bits_per_weight: q.packed.len() as f64 * 8.0 / n as f64,
        bytes: q.packed.len(),
        compression_ratio: if q.packed.is_empty() { 0.0 } else { (n * 4) as f64 / q.packed.len() as f64 },
        clipped_fraction: q.clipped as f64 / finite as f64,
        levels_used: q.levels_used,
        levels_total: q.levels_total,
        params: Vec::new(),
    };
    Ok((report, q.dequantized))
}

fn compare(args: &Args) -> Result<(), Failure> {
    let [file] = args.files.as_slice() else { return Err(usage("compare takes exactly one FILE")) };
    let tensor = pick_tensor(load(file)?, &args.tensor)?;
    let importance = args.imatrix.as_ref().map(|p| tensor_importance(p, &tensor)).transpose()?;
    // Each report with its importance-weighted MSE (when an imatrix is given).
    let mut reports: Vec<(SchemeReport, Option<f64>)> = Vec::new();
    let weighted = |deq: &[f32]| -> Result<Option<f64>, Failure> {
        importance.as_ref().map(|w| schemes::weighted_mse(&tensor.data, deq, w).map_err(bad_input)).transpose()
    };
    let every = args.schemes.is_empty() || args.schemes.iter().any(|s| s == "all");
    for id in scheme_ids(args) {
        // IQ2_XXS, IQ2_XS and IQ1_S quantize only with an imatrix: with one, only their weighted
        // row; without, left out of "all" (asked for by name, their error says why).
        if !(schemes::requires_importance(&id) && (importance.is_some() || every)) {
            let s = scheme(&id, args.axis)?;
            let (r, deq) = report::scheme_report_with(&tensor, s.as_ref()).map_err(bad_input)?;
            reports.push((r, weighted(&deq)?));
        }
        if let Some(w) = importance.as_ref().filter(|_| schemes::takes_importance(&id)) {
            let (r, deq) = weighted_report(&tensor, &id, w)?;
            reports.push((r, weighted(&deq)?));
        }
    }
    if args.json {
        #[derive(Serialize)]
        struct Row<'a> {
            #[serde(flatten)]
            report: &'a SchemeReport,
            #[serde(skip_serializing_if = "Option::is_none")]
            weighted_mse: Option<f64>,
        }
        #[derive(Serialize)]
        struct Comparison<'a> {
            file: String,
            tensor: TensorReport,
            schemes: Vec<Row<'a>>,
        }
        let rows = reports.iter().map(|(report, weighted_mse)| Row { report, weighted_mse: *weighted_mse }).collect();
        print_json(&Comparison { file: file.display().to_string(), tensor: report::tensor_report(&tensor), schemes: rows });
        return Ok(());
    }
    println!("{} {} {:?}", tensor.name, tensor.dtype, tensor.shape);
    let wcol = if importance.is_some() { format!(" {:>12}", "weighted MSE") } else { String::new() };
    println!("{:<24} {:>9} {:>12} {:>12} {:>10} {:>12}{wcol}", "scheme", "bits/w", "bytes", "MSE", "SQNR dB", "max |err|");
    for (r, w) in &reports {
        let wcol = w.map_or(String::new(), |w| format!(" {:>12}", fmt_num(w)));
        println!(
            "{:<24} {:>9} {:>12} {:>12} {:>10} {:>12}{wcol}",
            r.scheme,
            fmt_num(r.bits_per_weight),
            r.bytes,
            fmt_num(r.metrics.mse),
            fmt_num(r.metrics.sqnr_db),
            fmt_num(r.metrics.max_abs_error)
        );
    }
    Ok(())
}

fn quantize(args: &Args) -> Result<(), Failure> {
    let [file] = args.files.as_slice() else { return Err(usage("quantize takes exactly one FILE")) };
    let [id] = args.schemes.as_slice() else { return Err(usage("quantize takes exactly one --scheme")) };
    let out = args.out.as_ref().ok_or_else(|| usage("quantize needs --out OUT.bin"))?;
    let tensor = pick_tensor(load(file)?, &args.tensor)?;
    let s = scheme(id, args.axis)?;
    let q = s.quantize(&tensor.data, &tensor.shape).map_err(bad_input)?;
    std::fs::write(out, &q.packed).map_err(|e| bad_input(format!("{}: {e}", out.display())))?;
    if let Some(path) = &args.dequantized {
        let npy = formats::npy::write_f32(&tensor.shape, &q.dequantized);
        std::fs::write(path, npy).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
    }
    eprintln!("{}: {} {:?} → {} ({} bytes)", tensor.name, s.id(), tensor.shape, out.display(), q.packed.len());
    Ok(())
}

/// A whole model as GGUF in one ggml type. Safetensors and GGUF models are read a chunk at a
/// time (src/formats/src/lazy.rs), so any size works in bounded memory.
fn export_gguf(args: &Args) -> Result<(), Failure> {
    use quantscope_formats::gguf_writer::{self, OutType};
    if !args.fit.is_empty() {
        return export_fit(args);
    }
    if args.file_type.is_some() || !args.mix.is_empty() || args.dry_run {
        return export_mix(args);
    }
    if args.imatrix.is_some() {
        return Err(usage("--imatrix goes with --type FTYPE (a llama.cpp mix, as llama-quantize --imatrix), not --scheme"));
    }
    let [file] = args.files.as_slice() else { return Err(usage("export takes exactly one MODEL")) };
    let [id] = args.schemes.as_slice() else { return Err(usage("export takes exactly one --scheme TYPE")) };
    let out = args.out.as_ref().ok_or_else(|| usage("export needs --out OUT.gguf"))?;
    let ty = OutType::from_id(id)
        .ok_or_else(|| usage(format!("'{id}' is not a ggml type a GGUF can hold ({})", OutType::ALL.map(|t| t.id()).join(", "))))?;
    let name = file.display().to_string();
    let model = open_lazily(file)?;
    let stem = file.file_name().and_then(|n| n.to_str()).unwrap_or("model");
    let stem = stem.split('.').next().unwrap_or(stem);
    let written = std::fs::File::create(out).map_err(|e| bad_input(format!("{}: {e}", out.display())));
    let plan = written.and_then(|f| {
        let mut last = 0;
        gguf_writer::write_file(&model, stem, ty, std::io::BufWriter::new(f), |done, total| {
            if done != last {
                last = done;
                eprint!("\r{done}/{total} tensors");
            }
        })
        .map_err(bad_input)
    });
    eprintln!();
    let plan = plan.inspect_err(|_| {
        let _ = std::fs::remove_file(out);
    })?;
    for t in plan.tensors.iter().filter(|t| t.note.is_some()) {
        eprintln!("  {}: {}", t.name, t.note.as_deref().unwrap_or_default());
    }
    eprintln!("{name} → {} ({} tensors, {} bytes, {})", out.display(), plan.tensors.len(), plan.len, ty.id());
    Ok(())
}

/// `llama-quantize`'s options as a [`MixOptions`](quantscope_formats::gguf_mix::MixOptions).
fn mix_options(args: &Args) -> Result<quantscope_formats::gguf_mix::MixOptions, Failure> {
    let ggml = |name: &str| {
        quantscope_core::ggml_types::by_name(&name.to_ascii_lowercase())
            .map(|t| t.id)
            .ok_or_else(|| usage(format!("invalid ggml_type '{name}'")))
    };
    let mut o = quantscope_formats::gguf_mix::MixOptions::default();
    if let Some(path) = &args.imatrix {
        // The name as given: llama-quantize writes it as quantize.imatrix.file.
        let file_name = path.display().to_string();
        o.imatrix = Some(quantscope_formats::gguf_mix::MixImatrix { file_name, imatrix: std::rc::Rc::new(read_imatrix(path)?) });
    }
    for (option, value) in &args.mix {
        match option.as_str() {
            "pure" => o.pure = true,
            "leave-output-tensor" => o.leave_output_tensor = true,
            "output-tensor-type" => o.output_tensor_type = Some(ggml(value)?),
            "token-embedding-type" => o.token_embedding_type = Some(ggml(value)?),
            _ => {
                let (pattern, ty) =
                    value.split_once('=').ok_or_else(|| usage(format!("malformed tensor type '{value}' (PATTERN=TYPE)")))?;
                o.tensor_types.push((pattern.to_string(), ggml(ty)?));
            }
        }
    }
    Ok(o)
}

/// An importance matrix file (llama-imatrix's GGUF or legacy .dat).
fn read_imatrix(path: &PathBuf) -> Result<formats::imatrix::Imatrix, Failure> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| bad_input(format!("{name}: {e}")))?;
    formats::imatrix::parse(&bytes).map_err(|e| bad_input(format!("{name}: {e}")))
}

/// `quantscope imatrix FILE`: what an importance matrix holds — per entry (weight tensor) its
/// columns, experts, count and the columns that matter most (the largest weights llama-quantize
/// would use).
fn show_imatrix(args: &Args) -> Result<(), Failure> {
    let [file] = args.files.as_slice() else { return Err(usage("imatrix takes exactly one IMATRIX file")) };
    let m = read_imatrix(file)?;
    let top = args.top.unwrap_or(5);
    let entries: Vec<&formats::imatrix::ImatrixEntry> = match &args.tensor {
        None => m.entries.iter().collect(),
        Some(name) => vec![m.get(name).ok_or_else(|| bad_input(format!("{}: no entry for '{name}'", file.display())))?],
    };
    #[derive(Serialize)]
    struct Entry<'a> {
        name: &'a str,
        columns: usize,
        experts: usize,
        count: i64,
        /// (column, weight), largest first.
        top_columns: Vec<(usize, f32)>,
        mean_weight: f64,
    }
    let rows: Vec<Entry> = entries
        .iter()
        .map(|e| Entry {
            name: &e.name,
            columns: e.columns(),
            experts: e.experts(),
            count: e.count(),
            top_columns: e.top_columns(top),
            mean_weight: e.values.iter().map(|&v| v as f64).sum::<f64>() / e.values.len().max(1) as f64,
        })
        .collect();
    let format = match m.format {
        formats::imatrix::ImatrixFormat::Gguf => "gguf",
        formats::imatrix::ImatrixFormat::Legacy => "legacy .dat",
    };
    if args.json {
        #[derive(Serialize)]
        struct Report<'a> {
            file: String,
            format: &'a str,
            datasets: &'a [String],
            chunk_count: i32,
            chunk_size: i32,
            entries: Vec<Entry<'a>>,
        }
        print_json(&Report {
            file: file.display().to_string(),
            format,
            datasets: &m.datasets,
            chunk_count: m.chunk_count,
            chunk_size: m.chunk_size,
            entries: rows,
        });
        return Ok(());
    }
    println!(
        "{} ({format}): {} entries, {} chunks of {} tokens, datasets: {}",
        file.display(),
        m.entries.len(),
        m.chunk_count,
        m.chunk_size,
        if m.datasets.is_empty() { "-".to_string() } else { m.datasets.join(", ") }
    );
    println!("{:<40} {:>7} {:>7} {:>8} {:>12}  top columns (column: weight)", "tensor", "columns", "experts", "count", "mean weight");
    for r in &rows {
        let tops: Vec<String> = r.top_columns.iter().map(|(c, w)| format!("{c}: {}", fmt_num(*w as f64))).collect();
        println!("{:<40} {:>7} {:>7} {:>8} {:>12}  {}", r.name, r.columns, r.experts, r.count, fmt_num(r.mean_weight), tops.join(", "));
    }
    Ok(())
}

/// A GGUF model as one of llama-quantize's file types: each tensor's type by llama.cpp's rules,
/// the file byte for byte what the pinned llama-quantize writes (src/formats/src/gguf_mix.rs).
fn export_mix(args: &Args) -> Result<(), Failure> {
    use quantscope_formats::{gguf_mix::FileType, gguf_writer};
    let [file] = args.files.as_slice() else { return Err(usage("export takes exactly one MODEL")) };
    if !args.schemes.is_empty() {
        return Err(usage("export takes --scheme (one type for every tensor) or --type (a llama.cpp mix), not both"));
    }
    let name = args.file_type.as_deref().ok_or_else(|| usage("a llama.cpp mix needs --type FTYPE (e.g. Q4_K_M)"))?;
    let ftype = FileType::from_name(name).map_err(usage)?;
    let options = mix_options(args)?;
    let model = open_lazily(file)?;
    let source = file.display().to_string();
    let print_plan = |plan: &gguf_writer::Plan| {
        let elements: u64 = plan.tensors.iter().map(|t| t.shape.iter().product::<u64>()).sum();
        for t in &plan.tensors {
            let n: u64 = t.shape.iter().product();
            let bpw = t.size as f64 * 8.0 / n.max(1) as f64;
            eprintln!("  {:<36} {:<7} {:>6.2} bpw {:>12} B  {}", t.name, t.ty.id(), bpw, t.size, t.note.as_deref().unwrap_or_default());
        }
        eprintln!(
            "{source} as {}: {} tensors, {} bytes, {:.3} bpw",
            ftype.name(),
            plan.tensors.len(),
            plan.len,
            plan.len as f64 * 8.0 / elements.max(1) as f64
        );
    };
    if args.dry_run {
        let plan = gguf_writer::plan_mix(&model, ftype, &options).map_err(|e| bad_input(format!("{source}: {e}")))?;
        print_plan(&plan);
        return Ok(());
    }
    let out = args.out.as_ref().ok_or_else(|| usage("export needs --out OUT.gguf (or --dry-run)"))?;
    // Planned first, so a refused mix writes nothing.
    gguf_writer::plan_mix(&model, ftype, &options).map_err(|e| bad_input(format!("{source}: {e}")))?;
    let written = std::fs::File::create(out).map_err(|e| bad_input(format!("{}: {e}", out.display())));
    let plan = written.and_then(|f| {
        let mut last = 0;
        gguf_writer::write_mix(&model, ftype, &options, std::io::BufWriter::new(f), |done, total| {
            if done != last {
                last = done;
                eprint!("\r{done}/{total} tensors");
            }
        })
        .map_err(|e| bad_input(format!("{source}: {e}")))
    });
    eprintln!();
    let plan = plan.inspect_err(|_| {
        let _ = std::fs::remove_file(out);
    })?;
    print_plan(&plan);
    eprintln!("→ {}", out.display());
    Ok(())
}

/// `export --fit-bpw` / `--fit-size`: every tensor measured in every type it can take, the
/// types of least total error within the target (src/formats/src/gguf_fit.rs), printed beside
/// every named mix, and written as a mix with one --tensor-type per tensor.
fn export_fit(args: &Args) -> Result<(), Failure> {
    use quantscope_formats::gguf_fit::{self, Measure, Target};
    use quantscope_formats::gguf_mix::{FileType, MixOptions};
    use quantscope_formats::gguf_writer;
    let [file] = args.files.as_slice() else { return Err(usage("export takes exactly one MODEL")) };
    let [(kind, value)] = args.fit.as_slice() else { return Err(usage("give one target: --fit-bpw BPW or --fit-size SIZE")) };
    if !args.schemes.is_empty() || args.file_type.is_some() || !args.mix.is_empty() {
        return Err(usage("--fit-bpw / --fit-size choose every tensor's type: not with --scheme, --type or the mix options"));
    }
    let target = if *kind == "bpw" { Target::parse_bpw(value) } else { Target::parse_size(value) }.map_err(usage)?;
    let out = if args.dry_run { None } else { Some(args.out.as_ref().ok_or_else(|| usage("export needs --out OUT.gguf (or --dry-run)"))?) };
    let imatrix = mix_options(args)?.imatrix;
    let model = open_lazily(file)?;
    let source = file.display().to_string();
    let fail = |e: quantscope_formats::Error| bad_input(format!("{source}: {e}"));
    let measure = Measure::new(&model, imatrix.clone(), quantscope_core::schemes::quantize_with_importance).map_err(fail)?;
    let mut last = 0;
    let table = measure
        .run(&model, |done, total| {
            let percent = done * 100 / total.max(1);
            if percent != last {
                last = percent;
                eprint!("\rmeasuring every tensor in every type: {percent} %");
            }
        })
        .map_err(fail)?;
    eprintln!();
    let bytes = target.bytes_for(&table).map_err(fail)?;
    let elements = table.elements().max(1) as f64;
    let bpw = |b: u64| b as f64 * 8.0 / elements;
    let db = |t: &gguf_fit::Totals| t.sqnr_db().map_or("exact".to_string(), |d| format!("{d:.2} dB"));
    // The named mixes: each as a rival the fit starts from too, and as a row of the comparison.
    let mut named = Vec::new();
    for ftype in FileType::ALL {
        let options = MixOptions { imatrix: imatrix.clone(), ..MixOptions::default() };
        let Ok(plan) = gguf_writer::plan_mix(&model, ftype, &options) else { continue };
        if let Some(choice) = table.assignment_of(&plan) {
            named.push((ftype.name().to_string(), choice));
        }
    }
    let fitted = gguf_fit::fit(&table, bytes, &named).map_err(fail)?;
    let (ftype, options, plan) = gguf_fit::plan_fit(&model, &table, &fitted.choice, imatrix.clone()).map_err(fail)?;
    let weighted = if table.imatrix { " (importance-weighted)" } else { "" };
    for (t, &k) in table.tensors.iter().zip(&fitted.choice) {
        let c = &t.candidates[k];
        let sqnr = if c.sse > 0.0 { format!("{:>7.2} dB", 10.0 * (t.signal / c.sse).log10()) } else { "  exact   ".into() };
        let why = t.kept.clone().unwrap_or_else(|| format!("fit{}", if t.weighted { ", importance-weighted" } else { "" }));
        eprintln!(
            "  {:<36} {:<7} {:>6.2} bpw {:>12} B  {sqnr}  {why}",
            t.name,
            c.ty.id(),
            c.bytes as f64 * 8.0 / t.elements.max(1) as f64,
            c.bytes
        );
    }
    let totals = table.totals(&fitted.choice);
    eprintln!("named mixes of this model (error{weighted}):");
    named.sort_by_key(|(_, choice)| table.totals(choice).bytes);
    for (name, choice) in &named {
        let t = table.totals(choice);
        let mark = if t.bytes <= bytes { "" } else { "  (larger than the target)" };
        eprintln!("  {name:<10} {:>12} B {:>7.3} bpw  SQNR {:>9}  error {:.6e}{mark}", t.bytes, bpw(t.bytes), db(&t), t.error);
    }
    eprintln!(
        "{source} fitted to {bytes} bytes ({:.3} bpw): {} bytes, {:.3} bpw, SQNR {}, error{weighted} {:.6e}{}; general.file_type {}",
        bpw(bytes),
        totals.bytes,
        bpw(totals.bytes),
        db(&totals),
        totals.error,
        fitted.from.as_ref().map_or(String::new(), |m| format!(" (grown from {m})")),
        ftype.name()
    );
    let Some(out) = out else { return Ok(()) };
    let written = std::fs::File::create(out).map_err(|e| bad_input(format!("{}: {e}", out.display())));
    let result = written.and_then(|f| gguf_writer::write_mix(&model, ftype, &options, std::io::BufWriter::new(f), |_, _| {}).map_err(fail));
    if let Err(e) = result {
        let _ = std::fs::remove_file(out);
        return Err(e);
    }
    eprintln!("→ {} ({} bytes)", out.display(), plan.len);
    Ok(())
}

fn list_schemes(args: &Args) -> Result<(), Failure> {
    #[derive(Serialize)]
    struct Info {
        id: String,
        description: String,
    }
    let mut all = Vec::new();
    for id in schemes::all_ids() {
        let description = schemes::by_id(&id).map_err(bad_input)?.description();
        all.push(Info { id, description });
    }
    if args.json {
        print_json(&all);
    } else {
        for i in &all {
            println!("{:<24} {}", i.id, i.description);
        }
    }
    Ok(())
}

/// The built-in MNIST model's accuracy table: every variant of `mnist::table_variants` on every
/// test digit, with its stored size and batch-1 latency (the Run view's table).
fn eval(args: &Args) -> Result<(), Failure> {
    use quantscope_engine::mnist;
    if !args.files.is_empty() {
        return Err(usage("eval takes --model and --data, not file arguments"));
    }
    let read = |p: &Option<PathBuf>, default: &str| {
        let path = p.clone().unwrap_or_else(|| PathBuf::from(default));
        std::fs::read(&path).map(|b| (path.display().to_string(), b)).map_err(|e| bad_input(format!("{}: {e}", path.display())))
    };
    let (model_name, model_bytes) = read(&args.model, "www/models/mnist_mlp.onnx")?;
    let (data_name, data_bytes) = read(&args.data, "www/models/mnist_test.npz")?;
    let model = quantscope_engine::Model::from_onnx(&model_bytes).map_err(|e| bad_input(format!("{model_name}: {e}")))?;
    let set = mnist::TestSet::from_npz(&data_bytes).map_err(|e| bad_input(format!("{data_name}: {e}")))?;
    let start = std::time::Instant::now();
    let now_ms = || start.elapsed().as_secs_f64() * 1e3;
    if !args.json {
        println!("{model_name} on {} test digits of {data_name}", set.len());
        println!("{:<32} {:<12} {:>9} {:>11} {:>11} {:>9} {:>12}", "variant", "kind", "accuracy", "right", "size", "smaller", "latency µs");
    }
    let fp32_bytes = std::cell::Cell::new(0u64);
    let rows = mnist::accuracy_table(&model, &set, &mnist::table_variants(), &now_ms, |r| {
        if fp32_bytes.get() == 0 {
            fp32_bytes.set(r.bytes);
        }
        if !args.json {
            println!(
                "{:<32} {:<12} {:>8.2}% {:>11} {:>11} {:>8.1}× {:>12.1}",
                r.label,
                r.group,
                100.0 * r.evaluation.accuracy,
                format!("{}/{}", r.evaluation.correct, r.evaluation.count),
                r.bytes,
                fp32_bytes.get() as f64 / r.bytes.max(1) as f64,
                r.latency_micros
            );
        }
    })
    .map_err(|e| bad_input(format!("{model_name}: {e}")))?;
    if args.json {
        print_json(&rows);
    }
    Ok(())
}

/// `[NAME=]FILE.npy` arguments as values of the model's inputs (a bare FILE names the model's
/// only input). .npy values arrive as f32 and are converted to the input's declared dtype.
fn model_inputs(model: &quantscope_engine::Model, specs: &[String]) -> Result<Vec<(String, quantscope_engine::Value)>, Failure> {
    use quantscope_engine::{DType, Value};
    let mut out = Vec::new();
    for spec in specs {
        let (name, path) = match spec.split_once('=') {
            Some((n, p)) => (n.to_string(), p.to_string()),
            None => match model.inputs() {
                [only] => (only.name.clone(), spec.clone()),
                _ => return Err(usage(format!("--input {spec}: the model has several inputs, so write NAME=FILE.npy"))),
            },
        };
        let bytes = std::fs::read(&path).map_err(|e| bad_input(format!("{path}: {e}")))?;
        let t = formats::npy::parse(&path, &bytes).map_err(|e| bad_input(format!("{path}: {e}")))?;
        let dtype = model.inputs().iter().find(|i| i.name == name).and_then(|i| i.dtype).unwrap_or(DType::F32);
        let v = Value::from_f32(dtype, t.shape.clone(), &t.data).map_err(|e| bad_input(format!("{path}: {e}")))?;
        out.push((name, v));
    }
    Ok(out)
}

/// An ONNX model file loaded by the engine, with its name for messages.
fn load_onnx(file: &Path) -> Result<(String, quantscope_engine::Model), Failure> {
    let name = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|e| bad_input(format!("{name}: {e}")))?;
    let model = quantscope_engine::Model::from_onnx(&bytes).map_err(|e| bad_input(format!("{name}: {e}")))?;
    Ok((name, model))
}

/// Runs an ONNX model on .npy inputs, optionally quantized first.
fn run_model(args: &Args) -> Result<(), Failure> {
    use quantscope_core::schemes::int::calibration::Calibration;
    use quantscope_engine::{QuantizeConfig, QuantizeKind, STATIC_PERCENTILE};
    let [file] = args.files.as_slice() else { return Err(usage("run takes exactly one MODEL.onnx")) };
    if args.inputs.is_empty() {
        return Err(usage("run needs --input [NAME=]X.npy for the model's inputs"));
    }
    let (name, model) = load_onnx(file)?;
    let inputs = model_inputs(&model, &args.inputs)?;
    let scheme = match args.schemes.as_slice() {
        [] => "fp32",
        [one] => one.as_str(),
        _ => return Err(usage("run takes at most one --scheme")),
    };
    let static_kind = |calibration| -> Result<QuantizeKind, Failure> {
        let batch = if args.calibration.is_empty() { inputs.clone() } else { model_inputs(&model, &args.calibration)? };
        Ok(QuantizeKind::Int8Static { per_channel: true, calibration, inputs: vec![batch] })
    };
    let kind = match scheme {
        "fp32" => QuantizeKind::Fp32,
        "int8_dynamic" => QuantizeKind::Int8Dynamic { per_channel: false },
        "int8_dynamic_channel" => QuantizeKind::Int8Dynamic { per_channel: true },
        "int4_dynamic" => QuantizeKind::Int4Dynamic { per_channel: true },
        "int8_static" => static_kind(Calibration::MinMax)?,
        "int8_static_percentile" => static_kind(STATIC_PERCENTILE)?,
        "int8_static_entropy" => static_kind(Calibration::Entropy)?,
        "int8_static_mse" => static_kind(Calibration::Mse)?,
        id => {
            schemes::by_id(id).map_err(|_| usage(format!("unknown --scheme '{id}' (a variant name or a scheme id)")))?;
            QuantizeKind::WeightOnly { scheme: id.to_string() }
        }
    };
    let model = model.quantize(&QuantizeConfig::new(kind)).map_err(|e| bad_input(format!("{name}: {e}")))?;
    let named: Vec<(&str, quantscope_engine::Value)> = inputs.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    let start = std::time::Instant::now();
    let outputs = model.run(&named).map_err(|e| bad_input(format!("{name}: {e}")))?;
    let micros = start.elapsed().as_secs_f64() * 1e6;
    eprintln!("{name}: {} ({} bytes of weights), {micros:.0} µs", model.description(), model.stored_bytes());
    match &args.out {
        Some(out) => {
            let values: Vec<Vec<f32>> = outputs.iter().map(|(_, v)| v.to_f32_vec()).collect();
            let bytes = if outputs.len() == 1 && !out.to_string_lossy().ends_with(".npz") {
                formats::npy::write_f32(outputs[0].1.shape(), &values[0])
            } else {
                let arrays: Vec<(&str, &[usize], &[f32])> =
                    outputs.iter().zip(&values).map(|((n, v), x)| (n.as_str(), v.shape(), x.as_slice())).collect();
                formats::npz::write_f32(&arrays)
            };
            std::fs::write(out, bytes).map_err(|e| bad_input(format!("{}: {e}", out.display())))?;
        }
        None => {
            for (n, v) in &outputs {
                let x = v.to_f32_vec();
                let first: Vec<String> = x.iter().take(8).map(|&e| fmt_num(e as f64)).collect();
                let more = if x.len() > 8 { ", ..." } else { "" };
                println!("{n}  {} {:?}  [{}{more}]", v.dtype(), v.shape(), first.join(", "));
            }
        }
    }
    Ok(())
}

/// `quantize-onnx`: the model as ONNX Runtime's `quantize_dynamic` writes it
/// (`quantscope_onnx_quant::dynamic`), with what was quantized and what was kept in float.
fn quantize_onnx(args: &Args) -> Result<(), Failure> {
    use quantscope_onnx_quant::dynamic::{quantize_dynamic, DynamicOptions};
    use quantscope_onnx_quant::weights::QType;
    let [source] = &args.files[..] else { return Err(usage("quantize-onnx takes one MODEL.onnx")) };
    let out = args.out.as_ref().ok_or_else(|| usage("quantize-onnx needs --out OUT.onnx"))?;
    if args.subgraphs && (args.half.is_some() || args.nbits.is_some() || args.static_qdq) {
        return Err(usage("--subgraphs is an option of dynamic INT8 (ONNX Runtime's EnableSubgraph of quantize_dynamic)"));
    }
    if let Some(half) = args.half {
        if args.weight_type.is_some() || args.per_channel || args.reduce_range {
            return Err(usage(format!(
                "--{half} writes half-precision weights: --weight-type, --per-channel and --reduce-range are INT8 options"
            )));
        }
        return half_onnx(source, out, half);
    }
    let nbits_options = args.block_size.is_some()
        || args.symmetric
        || args.quant_format.is_some()
        || args.accuracy_level.is_some()
        || args.quant_method.is_some()
        || args.quantize_gather
        || gptq_options(args);
    if args.nbits.is_some() {
        if args.half.is_some() || args.static_qdq || args.weight_type.is_some() || args.per_channel || args.reduce_range {
            return Err(usage("--nbits writes weight-only blocked weights: --static, --fp16/--bf16, --weight-type, --per-channel and --reduce-range are other methods' options"));
        }
        return nbits_onnx(args, source, out);
    }
    if nbits_options {
        return Err(usage(
            "--block-size, --symmetric, --format, --accuracy-level, --quant-method, --quantize-gather and GPTQ's options are options of --nbits",
        ));
    }
    if args.static_qdq {
        if args.weight_type.is_some() || args.reduce_range {
            return Err(usage("--static writes ONNX Runtime's defaults for weights (int8, full range): --weight-type and --reduce-range are dynamic options"));
        }
        return static_onnx(args, source, out);
    }
    let calibration_options =
        args.percentile.is_some() || args.bins.is_some() || args.quantized_bins.is_some() || args.symmetric_range.is_some();
    if args.activation_type.is_some()
        || args.method.is_some()
        || !args.calibration.is_empty()
        || calibration_options
        || args.force_quantize_no_input_check
    {
        return Err(usage(
            "--activation-type, --calibrate-method (and its options), --force-quantize-no-input-check and --calibration are options of --static",
        ));
    }
    let weight_type = match args.weight_type.as_deref().unwrap_or("int8") {
        "int8" => QType::Int8,
        "uint8" => QType::Uint8,
        other => return Err(usage(format!("--weight-type is int8 or uint8, not '{other}'"))),
    };
    let name = source.display();
    let bytes = std::fs::read(source).map_err(|e| bad_input(format!("{name}: {e}")))?;
    let options =
        DynamicOptions { weight_type, per_channel: args.per_channel, reduce_range: args.reduce_range, enable_subgraph: args.subgraphs };
    let (quantized, report) = quantize_dynamic(&bytes, &options).map_err(|e| bad_input(format!("{name}: {e}")))?;
    std::fs::write(out, &quantized).map_err(|e| bad_input(format!("{}: {e}", out.display())))?;
    println!("{}: {} bytes → {}: {} bytes", name, bytes.len(), out.display(), quantized.len());
    println!("quantized: {}", if report.quantized.is_empty() { "nothing".into() } else { report.quantized.join(", ") });
    for (node, why) in &report.kept {
        println!("kept in float: {node}: {why}");
    }
    Ok(())
}

/// `quantize-onnx --nbits 2|4|8`: the model as ONNX Runtime's `MatMulNBitsQuantizer` (RTN) writes
/// it (`quantscope_onnx_quant::nbits`).
fn nbits_onnx(args: &Args, source: &Path, out: &Path) -> Result<(), Failure> {
    use quantscope_onnx_quant::nbits::{quantize_nbits, NBitsAlgorithm, NBitsFormat, NBitsOptions};
    let algorithm = match args.quant_method.as_deref().unwrap_or("rtn") {
        "rtn" | "default" => NBitsAlgorithm::Rtn,
        "hqq" => NBitsAlgorithm::Hqq,
        "gptq" => return gptq_onnx(args, source, out),
        other => return Err(usage(format!("--quant-method is rtn, hqq or gptq, not '{other}'"))),
    };
    if gptq_options(args) || !args.calibration.is_empty() {
        return Err(usage("--calibration, --percdamp, --gptq-block-size, --act-order, --mse, --per-tensor, --calibration-batch and --error-feedback are options of --quant-method gptq"));
    }
    let format = match args.quant_format.as_deref().unwrap_or("qoperator") {
        "qoperator" => NBitsFormat::QOperator,
        "qdq" => NBitsFormat::Qdq,
        other => return Err(usage(format!("--format is qoperator or qdq, not '{other}'"))),
    };
    let defaults = NBitsOptions::default();
    let options = NBitsOptions {
        bits: args.nbits.unwrap_or(defaults.bits),
        block_size: args.block_size.unwrap_or(defaults.block_size),
        symmetric: args.symmetric,
        accuracy_level: args.accuracy_level.unwrap_or(0),
        format,
        algorithm,
        gather: args.quantize_gather,
    };
    options.check().map_err(|e| usage(format!("--nbits: {e}")))?;
    let name = source.display();
    let bytes = std::fs::read(source).map_err(|e| bad_input(format!("{name}: {e}")))?;
    let (quantized, report) = quantize_nbits(&bytes, &options).map_err(|e| bad_input(format!("{name}: {e}")))?;
    std::fs::write(out, &quantized).map_err(|e| bad_input(format!("{}: {e}", out.display())))?;
    let form = if format == NBitsFormat::Qdq { "blocked int4 DequantizeLinear" } else { "MatMulNBits" };
    let zp = match (algorithm, options.symmetric) {
        (NBitsAlgorithm::Hqq, _) => "HQQ's float zero points",
        (_, true) => "symmetric",
        _ => "zero points",
    };
    println!(
        "{}: {} bytes → {}: {} bytes ({}-bit weights, {form}, blocks of {}, {zp})",
        name,
        bytes.len(),
        out.display(),
        quantized.len(),
        options.bits,
        options.block_size
    );
    println!("quantized: {}", report.quantized.join(", "));
    for (node, why) in &report.kept {
        println!("kept in float: {node}: {why}");
    }
    Ok(())
}

/// Whether a GPTQ-only option was given.
fn gptq_options(args: &Args) -> bool {
    args.percdamp.is_some()
        || args.gptq_block_size.is_some()
        || args.act_order
        || args.mse
        || args.per_tensor
        || args.calibration_batch.is_some()
        || args.error_feedback
}

/// `quantize-onnx --nbits 4 --quant-method gptq`: ONNX Runtime's `MatMulNBitsQuantizer` with
/// `GPTQWeightOnlyQuantConfig` (`quantscope_onnx_quant::gptq`): the float model runs on each
/// calibration item in the engine, each MatMul's A gives its Hessian.
fn gptq_onnx(args: &Args, source: &Path, out: &Path) -> Result<(), Failure> {
    use quantscope_onnx_quant::gptq::{GptqOptions, GptqWork};
    if args.nbits != Some(4) {
        return Err(usage(format!(
            "--quant-method gptq with --nbits {}: ONNX Runtime's GPTQ writes 4-bit MatMulNBits whatever bits it is given; use --nbits 4",
            args.nbits.unwrap_or(0)
        )));
    }
    if args.quant_format.as_deref().is_some_and(|f| f != "qoperator") {
        return Err(usage("--quant-method gptq writes MatMulNBits only (ONNX Runtime: \"GPTQ only supports QOperator format\")"));
    }
    if args.quantize_gather {
        return Err(usage("--quantize-gather is not an option of --quant-method gptq (ONNX Runtime's GPTQ quantizes MatMul only)"));
    }
    if args.calibration.is_empty() {
        return Err(usage("GPTQ needs calibration data: --calibration [NAME=]C.npy for the model's inputs"));
    }
    let defaults = GptqOptions::default();
    let options = GptqOptions {
        block_size: args.block_size.unwrap_or(defaults.block_size),
        symmetric: args.symmetric,
        accuracy_level: args.accuracy_level.unwrap_or(0),
        percdamp: args.percdamp.unwrap_or(defaults.percdamp),
        gptq_block: args.gptq_block_size.unwrap_or(defaults.gptq_block),
        actorder: args.act_order,
        mse: args.mse,
        perchannel: !args.per_tensor,
        error_feedback: args.error_feedback,
    };
    options.check().map_err(|e| usage(format!("--quant-method gptq: {e}")))?;
    if args.calibration_batch == Some(0) {
        return Err(usage("--calibration-batch 0: an item has at least one row"));
    }
    let (name, model) = load_onnx(source)?;
    let bytes = std::fs::read(source).map_err(|e| bad_input(format!("{name}: {e}")))?;
    let mut work = GptqWork::plan(&bytes, &options).map_err(|e| bad_input(format!("{name}: {e}")))?;
    let wanted = work.activations();
    let inputs = model_inputs(&model, &args.calibration)?;
    for item in calibration_items(&inputs, args.calibration_batch)? {
        let named: Vec<(&str, quantscope_engine::Value)> = item.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        let mut failed = None;
        let ran = model.run_observing(&named, &mut |tensor, v| {
            if failed.is_none() && wanted.iter().any(|w| w == tensor) {
                failed = match v.as_f32() {
                    Some(values) => work.observe(tensor, v.shape(), values).err(),
                    None => Some(quantscope_onnx_quant::QuantizeError::Calibration(format!("tensor '{tensor}' is not float32"))),
                };
            }
        });
        // a value that does not fit a MatMul says so before the run's own error
        if let Some(e) = failed {
            return Err(bad_input(format!("{name}: {e}")));
        }
        ran.map_err(|e| bad_input(format!("{name}: the calibration inputs do not run: {e}")))?;
    }
    for i in 0..work.weights() {
        work.quantize(i).map_err(|e| bad_input(format!("{name}: {e}")))?;
    }
    let (quantized, report, errors) = work.finish().map_err(|e| bad_input(format!("{name}: {e}")))?;
    std::fs::write(out, &quantized).map_err(|e| bad_input(format!("{}: {e}", out.display())))?;
    println!(
        "{}: {} bytes → {}: {} bytes (GPTQ{}, 4-bit weights, MatMulNBits, blocks of {}, {})",
        name,
        bytes.len(),
        out.display(),
        quantized.len(),
        if options.error_feedback { " with error feedback" } else { "" },
        options.block_size,
        if options.symmetric { "symmetric" } else { "zero points" }
    );
    println!("quantized: {}", report.quantized.join(", "));
    for (node, why) in &report.kept {
        println!("kept in float: {node}: {why}");
    }
    let show = |e: Option<f64>| e.map_or("(not computed: too large)".to_string(), |e| format!("{e:.6}"));
    for e in &errors {
        println!(
            "output error on the calibration data ‖(W−Ŵ)ᵀx‖²/‖Wᵀx‖²: {}: GPTQ {}, round to nearest {}",
            e.matmul,
            show(e.gptq),
            show(e.rtn)
        );
    }
    Ok(())
}

/// The calibration inputs as a CalibrationDataReader's items: all of them as one, or cut along
/// the first axis into items of `batch` rows (the last may be shorter).
#[allow(clippy::type_complexity)]
fn calibration_items(
    inputs: &[(String, quantscope_engine::Value)],
    batch: Option<usize>,
) -> Result<Vec<Vec<(String, quantscope_engine::Value)>>, Failure> {
    let Some(batch) = batch else { return Ok(vec![inputs.to_vec()]) };
    let rows = inputs.first().and_then(|(_, v)| v.shape().first().copied()).unwrap_or(0);
    if inputs.iter().any(|(_, v)| v.shape().first() != Some(&rows)) {
        return Err(bad_input(
            "--calibration-batch cuts every calibration input along its first axis: they must all have the same first dimension",
        ));
    }
    let mut items = Vec::new();
    for start in (0..rows).step_by(batch) {
        let end = (start + batch).min(rows);
        let mut item = Vec::new();
        for (n, v) in inputs {
            let f = v.as_f32().ok_or_else(|| bad_input(format!("--calibration-batch: input '{n}' is not float32")))?;
            let row = f.len() / rows.max(1);
            let mut shape = v.shape().to_vec();
            shape[0] = end - start;
            item.push((n.clone(), quantscope_engine::Value::f32(shape, f[start * row..end * row].to_vec())));
        }
        items.push(item);
    }
    Ok(items)
}

/// `quantize-onnx --static`: the model as ONNX Runtime's `quantize_static(quant_format=QDQ)`
/// writes it (`quantscope_onnx_quant::static_qdq`), calibrated on the engine's values for the
/// calibration inputs by ONNX Runtime's `calibrate_method` (`quantscope_onnx_quant::calibrate`).
fn static_onnx(args: &Args, source: &Path, out: &Path) -> Result<(), Failure> {
    use quantscope_onnx_quant::calibrate::{Calibration, Calibrator, Method};
    use quantscope_onnx_quant::static_qdq::{quantize_static, tensors_to_calibrate, StaticOptions};
    use quantscope_onnx_quant::weights::QType;
    let activation_type = match args.activation_type.as_deref().unwrap_or("uint8") {
        "uint8" => QType::Uint8,
        "int8" => QType::Int8,
        other => return Err(usage(format!("--activation-type is uint8 or int8, not '{other}'"))),
    };
    let method = Method::parse(args.method.as_deref().unwrap_or("minmax")).map_err(|e| usage(format!("--calibrate-method: {e}")))?;
    let defaults = Calibration::new(method);
    let calibration = Calibration {
        method,
        num_bins: args.bins.unwrap_or(defaults.num_bins),
        num_quantized_bins: args.quantized_bins.unwrap_or(defaults.num_quantized_bins),
        percentile: args.percentile.unwrap_or(defaults.percentile),
        symmetric: args.symmetric_range.unwrap_or(defaults.symmetric),
    };
    let given = [
        ("--percentile", args.percentile.is_some(), Method::Percentile),
        ("--symmetric-range", args.symmetric_range.is_some(), Method::Percentile),
        ("--quantized-bins", args.quantized_bins.is_some(), Method::Entropy),
    ];
    if let Some((flag, _, owner)) = given.iter().find(|(_, set, owner)| *set && *owner != method) {
        return Err(usage(format!("{flag} is an option of --calibrate-method {}", owner.name())));
    }
    if method == Method::MinMax && args.bins.is_some() {
        return Err(usage("--bins is an option of the histogram calibrations (percentile, entropy, distribution)"));
    }
    let mut calibrator = Calibrator::new(calibration).map_err(|e| usage(format!("--calibrate-method {}: {e}", method.name())))?;
    if args.calibration.is_empty() {
        return Err(usage("--static needs calibration data: --calibration [NAME=]C.npy for the model's inputs"));
    }
    let (name, model) = load_onnx(source)?;
    let bytes = std::fs::read(source).map_err(|e| bad_input(format!("{name}: {e}")))?;
    // MinMax takes every value; the histograms only the tensors ONNX Runtime calibrates.
    let tensors = tensors_to_calibrate(&bytes).map_err(|e| bad_input(format!("{name}: {e}")))?;
    let inputs = model_inputs(&model, &args.calibration)?;
    let named: Vec<(&str, quantscope_engine::Value)> = inputs.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    let mut failed = None;
    let mut seen: Vec<bool> = vec![false; tensors.len()];
    model
        .run_observing(&named, &mut |tensor, v| {
            let at = tensors.iter().position(|t| t == tensor);
            if method != Method::MinMax && at.is_none() {
                return;
            }
            if let (Some(values), None) = (v.as_f32(), &failed) {
                if let Some(i) = at {
                    seen[i] = true;
                }
                failed = calibrator.collect(tensor, values).err();
            }
        })
        .map_err(|e| bad_input(format!("{name}: the calibration inputs do not run: {e}")))?;
    // Constant nodes' values (paddle2onnx keeps weights in them): ONNX Runtime's augmented model
    // outputs them, the engine's run never makes them.
    for (t, _) in tensors.iter().zip(&seen).filter(|(_, &seen)| !seen) {
        if let (Some(values), None) = (model.constant(t).and_then(|v| v.as_f32()), &failed) {
            failed = calibrator.collect(t, values).err();
        }
    }
    if let Some(e) = failed {
        return Err(bad_input(format!("{name}: {e}")));
    }
    let ranges = calibrator.ranges().map_err(|e| bad_input(format!("{name}: {e}")))?;
    let options =
        StaticOptions { activation_type, per_channel: args.per_channel, force_quantize_no_input_check: args.force_quantize_no_input_check };
    let (quantized, report) = quantize_static(&bytes, &ranges, &options).map_err(|e| bad_input(format!("{name}: {e}")))?;
    std::fs::write(out, &quantized).map_err(|e| bad_input(format!("{}: {e}", out.display())))?;
    println!(
        "{}: {} bytes → {}: {} bytes (static QDQ, {} calibration, {} tensors calibrated)",
        name,
        bytes.len(),
        out.display(),
        quantized.len(),
        method.name(),
        ranges.len()
    );
    println!("quantized: {}", if report.quantized.is_empty() { "nothing".into() } else { report.quantized.join(", ") });
    for (node, why) in &report.kept {
        println!("kept in float: {node}: {why}");
    }
    Ok(())
}

/// `quantize-onnx --fp16 | --bf16`: the model's float32 weights in half precision, its float32
/// inputs and outputs kept (`quantscope_onnx_quant::float16`, onnxconverter_common's
/// `convert_float_to_float16(keep_io_types=True)`).
fn half_onnx(source: &Path, out: &Path, half: &str) -> Result<(), Failure> {
    use quantscope_onnx_quant::float16::{convert_to_half, Half};
    let half = if half == "fp16" { Half::F16 } else { Half::BF16 };
    let name = source.display();
    let bytes = std::fs::read(source).map_err(|e| bad_input(format!("{name}: {e}")))?;
    let (converted, report) = convert_to_half(&bytes, half).map_err(|e| bad_input(format!("{name}: {e}")))?;
    std::fs::write(out, &converted).map_err(|e| bad_input(format!("{}: {e}", out.display())))?;
    println!("{}: {} bytes → {}: {} bytes ({})", name, bytes.len(), out.display(), converted.len(), half.name());
    println!("converted: {} tensors, {} values; {} Cast nodes added", report.tensors, report.values, report.casts);
    if report.clamped_small + report.clamped_large > 0 {
        println!(
            "clamped: {} values 0 < |x| < 1e-7 raised to ±1e-7, {} values |x| > 1e4 lowered to ±1e4 (onnxconverter_common's defaults)",
            report.clamped_small, report.clamped_large
        );
    }
    if !report.kept_float.is_empty() {
        println!("kept in float32: {}", report.kept_float.join(", "));
    }
    Ok(())
}

/// `make-imatrix MODEL.onnx`: llama-imatrix's statistics of every MatMul/Gemm weight of an ONNX
/// model over one batch of calibration inputs (`quantscope_engine::importance`), in its GGUF
/// layout; weights stored `[in, out]` are listed but left out of the file (see that module).
fn onnx_imatrix(args: &Args, file: &Path) -> Result<(), Failure> {
    use quantscope_engine::importance::ImportanceRun;
    let out = args.out.as_ref().ok_or_else(|| usage("make-imatrix needs --out IMATRIX.gguf"))?;
    if args.calibration.is_empty() {
        return Err(usage("make-imatrix MODEL.onnx needs --calibration [NAME=]C.npy for the model's inputs"));
    }
    let (name, model) = load_onnx(file)?;
    let inputs = model_inputs(&model, &args.calibration)?;
    let named: Vec<(&str, quantscope_engine::Value)> = inputs.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    let mut run = ImportanceRun::new(&model).map_err(|e| bad_input(format!("{name}: {e}")))?;
    run.add_batch(&model, &named).map_err(|e| bad_input(format!("{name}: {e}")))?;
    for e in run.entries() {
        let zero = e.sums.iter().filter(|&&s| s == 0.0).count();
        let saved = if e.saved { "" } else { "  (stored [in, out]: not in the file)" };
        println!("{:<32} {} {:?}: {} input columns, {} rows, {zero} always 0{saved}", e.weight, e.op_type, e.shape, e.sums.len(), e.count);
    }
    // llama-imatrix records its text file's path; here the calibration arguments as given.
    let dataset = args.calibration.join(",");
    let m = run.imatrix(&dataset).ok_or_else(|| bad_input(format!("{name}: no weight is stored [out, in] as llama.cpp's entries are")))?;
    let bytes = formats::imatrix_writer::write_gguf(&m).map_err(|e| bad_input(e.to_string()))?;
    std::fs::write(out, &bytes).map_err(|e| bad_input(format!("{}: {e}", out.display())))?;
    println!("{}: {} tensors, 1 chunk of {} rows", out.display(), m.entries.len(), m.chunk_size);
    Ok(())
}

fn language_model(args: &Args) -> Result<(), Failure> {
    if args.command == "kl-divergence" {
        let [base, model] = args.files.as_slice() else {
            return Err(usage("kl-divergence takes BASE.gguf MODEL.gguf"));
        };
        let text = args.text.as_deref().ok_or_else(|| usage("kl-divergence needs --text FILE"))?;
        return crate::lm::kl_divergence_of(base, model, text, args.ctx, args.chunks, args.json).map_err(bad_input);
    }
    let [model] = args.files.as_slice() else {
        return Err(usage(format!("{} takes one MODEL.gguf", args.command)));
    };
    if args.command == "make-imatrix" && model.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
        return onnx_imatrix(args, model);
    }
    if args.command == "generate" && args.prompt.is_none() {
        return Err(usage("generate needs --prompt TEXT"));
    }
    if matches!(args.command.as_str(), "perplexity" | "make-imatrix" | "gptq" | "awq") && args.text.is_none() {
        return Err(usage(format!("{} needs --text FILE", args.command)));
    }
    if args.command == "make-imatrix" && args.out.is_none() {
        return Err(usage("make-imatrix needs --out IMATRIX.gguf"));
    }
    if args.command == "gptq" && args.out.is_none() {
        return Err(usage("gptq needs --out OUT.gguf"));
    }
    if args.command == "awq" {
        if args.out.is_none() {
            return Err(usage("awq needs --out AWQ-F32.gguf"));
        }
        if args.file_type.is_some() != args.quantized_out.is_some() {
            return Err(usage("awq: --type FTYPE and --quantized-out OUT.gguf go together"));
        }
    }
    let a = crate::lm::LmArgs {
        model,
        prompt: args.prompt.as_deref(),
        text: args.text.as_deref(),
        tokens: args.tokens.unwrap_or(64),
        ctx: args.ctx,
        chunks: args.chunks,
        seed: args.seed,
        temperature: args.temperature.unwrap_or(0.8),
        top_k: args.top_k.unwrap_or(40),
        json: args.json,
        out: args.out.as_deref(),
        grid: args.grid.as_deref(),
        group: args.group,
        sym: args.sym,
        act_order: args.act_order,
        rtn_out: args.rtn_out.as_deref(),
        file_type: args.file_type.as_deref(),
        quantized_out: args.quantized_out.as_deref(),
        rounded_out: args.rounded_out.as_deref(),
        no_clip: args.no_clip,
    };
    let result = match args.command.as_str() {
        "generate" => crate::lm::generate(&a),
        "make-imatrix" => crate::lm::make_imatrix(&a),
        "gptq" => crate::lm::gptq(&a),
        "awq" => crate::lm::awq(&a),
        _ => crate::lm::perplexity_of(&a),
    };
    result.map_err(bad_input)
}

pub fn main() -> ExitCode {
    let result = match parse_args() {
        Err(e) => Err(usage(e)),
        Ok(args) => match args.command.as_str() {
            "inspect" => inspect(&args),
            "compare" => compare(&args),
            "quantize" => quantize(&args),
            "schemes" => list_schemes(&args),
            "export" => export_gguf(&args),
            "imatrix" => show_imatrix(&args),
            "eval" => eval(&args),
            "run" => run_model(&args),
            "quantize-onnx" => quantize_onnx(&args),
            "generate" | "perplexity" | "make-imatrix" | "kl-divergence" | "gptq" | "awq" => language_model(&args),
            "" => Err(usage("no command given")),
            other => Err(usage(format!("unknown command '{other}'"))),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg, code)) => {
            eprintln!("quantscope: {msg}");
            ExitCode::from(code)
        }
    }
}

//! quantscope's command-line tool: the same core as the page, for files on disk and for CI.
//!
//!   quantscope inspect FILE... [--json]
//!   quantscope compare FILE [--tensor NAME] [--scheme ID]... [--axis N] [--json]
//!   quantscope quantize FILE [--tensor NAME] --scheme ID [--axis N] --out OUT.bin [--dequantized DEQ.npy]
//!   quantscope schemes [--json]
//!
//! Exit codes: 0 success, 1 bad input (a message on stderr), 2 bad usage.

use quantscope::report::{self, SchemeReport, TensorReport};
use quantscope::schemes::{self, int::IntScheme, Scheme};
use quantscope::{formats, Tensor};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage:
  quantscope inspect FILE... [--json]
  quantscope compare FILE [--tensor NAME] [--scheme ID|all]... [--axis N] [--json]
  quantscope quantize FILE [--tensor NAME] --scheme ID [--axis N] --out OUT.bin [--dequantized DEQ.npy]
  quantscope schemes [--json]";

#[derive(Default)]
struct Args {
    command: String,
    files: Vec<PathBuf>,
    tensor: Option<String>,
    schemes: Vec<String>,
    axis: Option<usize>,
    out: Option<PathBuf>,
    dequantized: Option<PathBuf>,
    json: bool,
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

/// A sharded safetensors checkpoint: the shards the index names, read from beside it.
fn load_sharded(index_path: &PathBuf, index: &[u8]) -> Result<Vec<Tensor>, Failure> {
    let name = index_path.display().to_string();
    let parsed: serde_json::Value = serde_json::from_slice(index).map_err(|e| bad_input(format!("{name}: {e}")))?;
    let mut shard_names: Vec<String> = parsed["weight_map"]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    shard_names.sort();
    shard_names.dedup();
    let dir = index_path.parent().unwrap_or(std::path::Path::new("."));
    // A shard that cannot be read is left out, so the parser names the missing one.
    let shards: Vec<(String, Vec<u8>)> =
        shard_names.into_iter().filter_map(|s| std::fs::read(dir.join(&s)).ok().map(|b| (s, b))).collect();
    let pairs: Vec<(&str, &[u8])> = shards.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    formats::safetensors::load_sharded(index, &pairs).map(|f| f.tensors).map_err(|e| bad_input(format!("{name}: {e}")))
}

fn pick_tensor(mut tensors: Vec<Tensor>, wanted: &Option<String>) -> Result<Tensor, Failure> {
    match wanted {
        None => tensors.into_iter().next().ok_or_else(|| bad_input("the file holds no tensors")),
        Some(name) => match tensors.iter().position(|t| &t.name == name) {
            Some(i) => Ok(tensors.swap_remove(i)),
            None => Err(bad_input(quantscope::Error::UnknownTensor(name.clone()))),
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

fn inspect(args: &Args) -> Result<(), Failure> {
    if args.files.is_empty() {
        return Err(usage("inspect needs at least one FILE"));
    }
    #[derive(Serialize)]
    struct FileReport {
        file: String,
        tensors: Vec<TensorReport>,
    }
    let mut out = Vec::new();
    for path in &args.files {
        let tensors = load(path)?;
        out.push(FileReport { file: path.display().to_string(), tensors: tensors.iter().map(report::tensor_report).collect() });
    }
    if args.json {
        print_json(&out);
        return Ok(());
    }
    for f in &out {
        println!("{}", f.file);
        for t in &f.tensors {
            let s = &t.stats;
            println!(
                "  {}  {} {:?}  min {}  max {}  mean {}  std {}  NaN {}  Inf {}",
                t.name, t.dtype, t.shape, fmt_num(s.min), fmt_num(s.max), fmt_num(s.mean), fmt_num(s.std), s.nan_count, s.inf_count
            );
        }
    }
    Ok(())
}

fn compare(args: &Args) -> Result<(), Failure> {
    let [file] = args.files.as_slice() else { return Err(usage("compare takes exactly one FILE")) };
    let tensor = pick_tensor(load(file)?, &args.tensor)?;
    let mut reports: Vec<SchemeReport> = Vec::new();
    for id in scheme_ids(args) {
        let s = scheme(&id, args.axis)?;
        reports.push(report::scheme_report_with(&tensor, s.as_ref()).map_err(bad_input)?.0);
    }
    if args.json {
        #[derive(Serialize)]
        struct Comparison<'a> {
            file: String,
            tensor: TensorReport,
            schemes: &'a [SchemeReport],
        }
        print_json(&Comparison { file: file.display().to_string(), tensor: report::tensor_report(&tensor), schemes: &reports });
        return Ok(());
    }
    println!("{} {} {:?}", tensor.name, tensor.dtype, tensor.shape);
    println!("{:<24} {:>9} {:>12} {:>12} {:>10} {:>12}", "scheme", "bits/w", "bytes", "MSE", "SQNR dB", "max |err|");
    for r in &reports {
        println!(
            "{:<24} {:>9} {:>12} {:>12} {:>10} {:>12}",
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

fn main() -> ExitCode {
    let result = match parse_args() {
        Err(e) => Err(usage(e)),
        Ok(args) => match args.command.as_str() {
            "inspect" => inspect(&args),
            "compare" => compare(&args),
            "quantize" => quantize(&args),
            "schemes" => list_schemes(&args),
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

//! `generate` and `perplexity`: a llama-architecture GGUF run by quantscope-llm (F32 and Q8_0
//! matrices), as llama.cpp runs it.

use quantscope_llm::{kl_divergence, perplexity, Generator, ImatrixRun, Model, Sampling};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// What the commands need from the command line.
pub struct LmArgs<'a> {
    pub model: &'a Path,
    pub prompt: Option<&'a str>,
    pub text: Option<&'a Path>,
    pub tokens: usize,
    pub ctx: Option<usize>,
    pub chunks: Option<usize>,
    pub seed: Option<u64>,
    pub temperature: f32,
    pub top_k: usize,
    pub json: bool,
    pub out: Option<&'a Path>,
    pub grid: Option<&'a str>,
    pub group: Option<usize>,
    pub sym: bool,
    pub act_order: bool,
    pub rtn_out: Option<&'a Path>,
    pub file_type: Option<&'a str>,
    pub quantized_out: Option<&'a Path>,
    pub rounded_out: Option<&'a Path>,
    pub no_clip: bool,
}

fn load(path: &Path) -> Result<Model, String> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: {e}"))?;
    Model::from_gguf(bytes).map_err(|e| format!("{name}: {e}"))
}

/// Prints the prompt's continuation as it is produced (greedy, or sampled with --seed).
pub fn generate(a: &LmArgs) -> Result<(), String> {
    let model = load(a.model)?;
    let prompt = a.prompt.ok_or("generate needs --prompt TEXT")?;
    let mut ids = model.tokenizer.encode_special(prompt);
    if ids.is_empty() {
        ids.extend(model.tokenizer.bos);
    }
    let sampling = match a.seed {
        None => Sampling::Greedy,
        Some(seed) => Sampling::Random { seed, temperature: a.temperature, top_k: a.top_k },
    };
    let n_ctx = a.ctx.unwrap_or(ids.len() + a.tokens);
    let mut g = Generator::new(&model, &ids, n_ctx, sampling).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let mut pending: Vec<u8> = Vec::new();
    write!(out, "{prompt}").ok();
    for _ in 0..a.tokens {
        let t = match g.next_token() {
            Ok(t) => t,
            Err(e) => return Err(e.to_string()),
        };
        if Some(t) == model.tokenizer.eos {
            break;
        }
        // A token may end inside a UTF-8 character: print what is complete.
        pending.extend(model.tokenizer.decode(&[t]).map_err(|e| e.to_string())?);
        let valid = match std::str::from_utf8(&pending) {
            Ok(_) => pending.len(),
            Err(e) => e.valid_up_to(),
        };
        out.write_all(&pending[..valid]).ok();
        out.flush().ok();
        pending.drain(..valid);
    }
    out.write_all(&pending).ok();
    writeln!(out).ok();
    Ok(())
}

#[derive(Serialize)]
struct PerplexityReport {
    ppl: f64,
    plus_minus: f64,
    tokens_scored: usize,
    chunks: usize,
    n_ctx: usize,
}

/// llama-perplexity's estimate on a text file.
pub fn perplexity_of(a: &LmArgs) -> Result<(), String> {
    let model = load(a.model)?;
    let path = a.text.ok_or("perplexity needs --text FILE")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let ids = model.tokenizer.encode_special(&text);
    let n_ctx = a.ctx.unwrap_or(model.config.n_ctx_train);
    let p = perplexity(&model, &ids, n_ctx, a.chunks, |done, of| {
        if !a.json {
            eprint!("\rchunk {done}/{of}");
        }
        true
    })
    .map_err(|e| e.to_string())?;
    if a.json {
        let report = PerplexityReport { ppl: p.ppl, plus_minus: p.plus_minus, tokens_scored: p.count, chunks: p.per_chunk.len(), n_ctx };
        println!("{}", serde_json::to_string_pretty(&report).expect("serializable"));
    } else {
        eprintln!();
        println!("PPL = {:.4} +/- {:.5} ({} chunks of {n_ctx}, {} tokens scored)", p.ppl, p.plus_minus, p.per_chunk.len(), p.count);
    }
    Ok(())
}

/// llama-imatrix's importance matrix of the model over a text file, saved in its GGUF layout.
pub fn make_imatrix(a: &LmArgs) -> Result<(), String> {
    let model = load(a.model)?;
    let path = a.text.ok_or("make-imatrix needs --text FILE")?;
    let out = a.out.ok_or("make-imatrix needs --out IMATRIX.gguf")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let ids = model.tokenizer.encode_special(&text);
    let n_ctx = a.ctx.unwrap_or(model.config.n_ctx_train);
    // llama-imatrix records the text file's path as given.
    let mut run = ImatrixRun::new(&model, &ids, n_ctx, a.chunks, &path.display().to_string()).map_err(|e| e.to_string())?;
    while run.next_chunk(&model).map_err(|e| e.to_string())? {
        eprint!("\rchunk {}/{}", run.chunks_done(), run.n_chunk());
    }
    eprintln!();
    let m = run.result().expect("at least one chunk: ImatrixRun::new checks the text's length");
    let bytes = quantscope_formats::imatrix_writer::write_gguf(&m).map_err(|e| e.to_string())?;
    std::fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("{}: {} tensors, {} chunks of {n_ctx} tokens", out.display(), m.entries.len(), m.chunk_count);
    Ok(())
}

/// llama-perplexity --kl-divergence's statistics of `model` against `base` on a text file.
pub fn kl_divergence_of(
    base: &Path,
    model: &Path,
    text: &Path,
    ctx: Option<usize>,
    chunks: Option<usize>,
    json: bool,
) -> Result<(), String> {
    let (base_model, model_q) = (load(base)?, load(model)?);
    let text = std::fs::read_to_string(text).map_err(|e| format!("{}: {e}", text.display()))?;
    let ids = base_model.tokenizer.encode_special(&text);
    let n_ctx = ctx.unwrap_or(base_model.config.n_ctx_train);
    let s = kl_divergence(&base_model, &model_q, &ids, n_ctx, chunks).map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s).expect("serializable"));
    } else {
        println!("positions       : {}", s.positions);
        println!("Mean PPL(Q)     : {:.6}", s.ppl_q);
        println!("Mean PPL(base)  : {:.6}", s.ppl_base);
        println!("Mean    KLD     : {:.6} ± {:.6}", s.mean_kld, s.mean_kld_uncertainty);
        println!("Maximum KLD     : {:.6}", s.max_kld);
        println!("99.0%   KLD     : {:.6}", s.kld_99);
        println!("Median  KLD     : {:.6}", s.median_kld);
        println!("RMS Δp          : {:.3} %", s.rms_dp_percent);
        println!("Same top p      : {:.3} %", s.same_top_percent);
    }
    Ok(())
}

/// A GGUF model and the file it was read from (GPTQ and AWQ write their files from it).
fn load_with_file(path: &Path) -> Result<(quantscope_formats::lazy::LazyFile, Model), String> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: {e}"))?;
    let source: std::rc::Rc<dyn quantscope_formats::bytesource::ByteSource> = std::rc::Rc::new(bytes);
    let file = quantscope_formats::lazy::open_gguf_file(&name, source.clone()).map_err(|e| e.to_string())?;
    let model = Model::from_source(&name, source).map_err(|e| format!("{name}: {e}"))?;
    Ok((file, model))
}

/// Calls `advance` (done, total, finished) until the run has finished, the step count on stderr
/// unless `quiet`.
fn run_steps(quiet: bool, mut advance: impl FnMut() -> Result<(usize, usize, bool), String>) -> Result<(), String> {
    loop {
        let (done, total, finished) = advance()?;
        if !quiet {
            eprint!("\rstep {done}/{total}");
        }
        if finished {
            break;
        }
    }
    if !quiet {
        eprintln!();
    }
    Ok(())
}

/// `gptq`: GPTQ of every layer matrix on a text, written as a GGUF (see the usage).
pub fn gptq(a: &LmArgs) -> Result<(), String> {
    use quantscope_ptq::GptqConfig;
    let (file, mut model) = load_with_file(a.model)?;
    // An F16 model's matrices widened to F32 (exactly), as the page's GPTQ does.
    model.widen_f16_layer_matrices();
    let (grid, groupsize) =
        quantscope_ptq::gptq_grid(a.grid.unwrap_or("q4_0"), a.sym, a.group).map_err(|e| format!("--grid/--group: {e}"))?;
    // With act-order, static groups keep each group's columns together (as Q4_0 blocks need).
    let config = GptqConfig { groupsize, act_order: a.act_order, static_groups: a.act_order && groupsize.is_some(), ..Default::default() };
    let path = a.text.ok_or("gptq needs --text FILE")?;
    let out = a.out.ok_or("gptq needs --out OUT.gguf")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let ids = model.tokenizer.encode_special(&text);
    let n_ctx = a.ctx.unwrap_or(model.config.n_ctx_train);
    let mut run = quantscope_llm::GptqRun::new(model, &ids, n_ctx, a.chunks, grid, config).map_err(|e| e.to_string())?;
    run_steps(a.json, || run.advance().map(|p| (p.done, p.total, p.finished)).map_err(|e| e.to_string()))?;
    let write = |path: &Path, rtn: bool| -> Result<(), String> {
        let bytes = run.write_gguf(&file, rtn).map_err(|e| e.to_string())?;
        std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    };
    write(out, false)?;
    if let Some(p) = a.rtn_out {
        write(p, true)?;
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&run.reports().iter().map(|r| (&r.name, r.gptq_error, r.rtn_error)).collect::<Vec<_>>())
                .expect("serializable")
        );
    } else {
        println!("{:<28} {:>12} {:>12}", "matrix (output error)", "GPTQ", "RTN");
        for r in run.reports() {
            println!("{:<28} {:>12.3e} {:>12.3e}", r.name, r.gptq_error, r.rtn_error);
        }
        println!(
            "{}: {} grid, groups of {}, act-order {}",
            out.display(),
            grid.label(),
            groupsize.map_or("a row".into(), |g| g.to_string()),
            a.act_order
        );
    }
    Ok(())
}

/// `awq`: AWQ's scales (and clip) of every layer on a text, written as an F32 GGUF, and optionally
/// a llama-quantize mix of it (see the usage).
pub fn awq(a: &LmArgs) -> Result<(), String> {
    use quantscope_formats::gguf_mix::{FileType, MixOptions};
    let (file, mut model) = load_with_file(a.model)?;
    model.widen_f16_layer_matrices(); // as for GPTQ
    let (config, _) = quantscope_ptq::awq_config(a.grid.unwrap_or("q4_0"), a.group).map_err(|e| format!("--grid/--group: {e}"))?;
    // The mix is checked before the (long) run.
    let ftype = a.file_type.map(FileType::from_name).transpose().map_err(|e| e.to_string())?;
    let path = a.text.ok_or("awq needs --text FILE")?;
    let out = a.out.ok_or("awq needs --out AWQ-F32.gguf")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let ids = model.tokenizer.encode_special(&text);
    let n_ctx = a.ctx.unwrap_or(model.config.n_ctx_train);
    let mut run = quantscope_llm::AwqRun::new(model, &ids, n_ctx, a.chunks, config, !a.no_clip).map_err(|e| e.to_string())?;
    run_steps(a.json, || run.advance().map(|p| (p.done, p.total, p.finished)).map_err(|e| e.to_string()))?;
    let scaled = run.write_f32_gguf(&file).map_err(|e| e.to_string())?;
    std::fs::write(out, &scaled).map_err(|e| format!("{}: {e}", out.display()))?;
    for (path, rtn) in [(a.rounded_out, false), (a.rtn_out, true)] {
        if let Some(p) = path {
            let bytes = run.write_rounded_f32_gguf(&file, rtn).map_err(|e| e.to_string())?;
            std::fs::write(p, bytes).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    if let (Some(ftype), Some(q)) = (ftype, a.quantized_out) {
        let scaled_file =
            quantscope_formats::lazy::open_gguf_file(&out.display().to_string(), std::rc::Rc::new(scaled)).map_err(|e| e.to_string())?;
        let f = std::fs::File::create(q).map_err(|e| format!("{}: {e}", q.display()))?;
        quantscope_formats::gguf_writer::write_mix(&scaled_file, ftype, &MixOptions::default(), std::io::BufWriter::new(f), |_, _| {})
            .map_err(|e| e.to_string())?;
    }
    if a.json {
        #[derive(Serialize)]
        struct Report<'r> {
            grid: String,
            groupsize: Option<usize>,
            scales: &'r [quantscope_llm::awq::ScaleReport],
            clips: &'r [quantscope_llm::awq::ClipReport],
        }
        let c = run.config();
        let report = Report { grid: c.grid.label(), groupsize: c.groupsize, scales: run.scale_reports(), clips: run.clip_reports() };
        println!("{}", serde_json::to_string_pretty(&report).expect("serializable"));
    } else {
        println!("{:<44} {:>6} {:>11} {:>11} {:>17}", "scales (block output error)", "alpha", "alpha = 0", "chosen", "scale range");
        for s in run.scale_reports() {
            println!(
                "{:<44} {:>6.2} {:>11.3e} {:>11.3e} {:>8.3}..{:<8.3}",
                format!("blk.{} {}", s.layer, s.label),
                s.ratio,
                s.losses[0],
                s.losses[s.best],
                s.scale_min,
                s.scale_max
            );
        }
        if !run.clip_reports().is_empty() {
            println!("{:<44} {:>13} {:>11} {:>11}", "clip (output error)", "groups clipped", "unclipped", "clipped");
            for c in run.clip_reports() {
                println!("{:<44} {:>6}/{:<7} {:>11.3e} {:>11.3e}", c.name, c.clipped, c.groups, c.error_unclipped, c.error_clipped);
            }
        }
        let c = run.config();
        println!(
            "{}: AWQ scales{} searched on the {} grid, groups of {}",
            out.display(),
            if a.no_clip { "" } else { " and clip" },
            c.grid.label(),
            c.groupsize.map_or("a row".into(), |g| g.to_string())
        );
        if let (Some(t), Some(q)) = (a.file_type, a.quantized_out) {
            println!("{}: its {t} mix", q.display());
        }
    }
    Ok(())
}

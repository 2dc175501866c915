// The release modules scripts/build-wasm.sh makes for the page (run after it, as npm test does):
// each carries only its own JavaScript surface, and the runner — the model runtime the Run view
// loads, what onnxruntime-web's 14.2 MB wasm compares with — stays under its 302 KB gzipped budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';

const pkg = (dir, file) => readFile(new URL(`../../www/${dir}/${file}`, import.meta.url));
const exportsOf = async (dir) => new Set([...(await pkg(dir, 'quantscope.js')).toString()
  .matchAll(/^export (?:function|class) (\w+)/gm)].map((m) => m[1]));

test('the workbench, the tutor, the runner and the models module export their own surfaces, and not the GEMM and model benches', async () => {
  const workbench = await exportsOf('pkg'), runner = await exportsOf('pkg-run'), tutor = await exportsOf('pkg-learn');
  const models = await exportsOf('pkg-models');
  for (const name of ['Lesson', 'learn_number', 'learn_memory_table', 'learn_draw_nf4_chart', 'learn_pareto_front']) {
    assert.ok(tutor.has(name), name);
    assert.ok(!workbench.has(name) && !runner.has(name) && !models.has(name), `${name} is outside the tutor`);
  }
  const plot = await exportsOf('pkg-plot');
  for (const name of ['Workspace', 'Engine', 'draw_histograms']) assert.ok(!tutor.has(name), `the tutor has ${name}`);
  // The main thread's plot module draws (and has wasm-common's two probes); the workbench draws nothing.
  for (const name of ['draw_histograms', 'draw_sqnr_chart']) assert.ok(plot.has(name) && !workbench.has(name) && !runner.has(name), `${name} is outside the plot module`);
  for (const name of ['Workspace', 'scheme_list', 'read_file', 'Engine', 'Lesson']) assert.ok(!plot.has(name), `the plot module has ${name}`);
  // The models module is the runner's surface (linked, not copied) plus an engine with every op,
  // the layer-by-layer comparison and the calibration's tensor stream and ranges.
  for (const name of runner) assert.ok(models.has(name), `the models module lacks the runner's ${name}`);
  assert.ok(runner.has('ImportanceCollector'));
  assert.deepEqual([...models].filter((name) => !runner.has(name)).sort(), ['engine_for_any_model', 'layer_errors', 'observe_ranges', 'observe_tensors', 'profile_run']);
  assert.ok(!runner.has('layer_errors'), 'the runner carries layer_errors');
  for (const name of ['Workspace', 'scheme_list', 'compare_values']) assert.ok(workbench.has(name), name);
  for (const name of ['Engine', 'mnist_test_set', 'mnist_variants', 'read_npy_input', 'output_error']) assert.ok(runner.has(name), name);
  for (const name of ['Engine', 'mnist_test_set']) assert.ok(!workbench.has(name), `the workbench has ${name}`);
  for (const name of ['Workspace', 'draw_histograms']) assert.ok(!runner.has(name), `the runner has ${name}`);
  for (const name of ['BenchModel', 'BenchGemmModel', 'gemm_model_onnx', 'bench_gemm']) {
    assert.ok(!workbench.has(name) && !runner.has(name), `${name} ships`);
  }
});

// The budget was 300,000 B until session 8, whose integer fast path (one pass per group, SIMD
// quantize and dequantize kernels) and calibration descriptions took the runner to 300,765 B.
// Session 9 took it back to 299,889 B (the engine's test-set error no longer links every
// format's messages). Issue 13 moved every op the built-in models do not use into the models
// module (the loader takes its op sets as an argument): 226,614 B (228,371 B with the
// subgraph-capable loader issue 13's If needs); session 10 lowered the ceiling from 302 KB to
// 235 KB to keep that gain. This is a ceiling, not the goal. Session 13 added the built-in
// model's importance matrix (llama-imatrix's statistics, src/runner/src/importance.rs; the file
// is written by the exporter): 230,4xx → 235,780 B, and the ceiling went to 237 KB. Session 17:
// the run plan (Conv fusion is reached only through Conv, so none of it is here) and Sigmoid's
// vectorizable exp: 236,738 → 238,073 B by node's zlib; core's integer quantize fast path and the
// run plan's graph view (op::PlanView, which took the engine's one module circle away): 238,933
// B; the ceiling went to 239,500. Session 19: the int8 Conv's patches written straight into the
// integer GEMM's panels (the panel filler for bytes, the panel widening and the kernel driver;
// ppocr_cls INT8 2-3× faster) and the HardSwish forms of the Conv epilogue: 239,036 → 243,694 B;
// the ceiling went to 244,500. Session 20: the integer depthwise Conv's phase-split planes (every
// stride vectorized: the int8 variants' hot spot) and the int8 Conv's rescale taking a per-row
// finisher: 243,696 → 245,330 B (the fused int8 Conv itself is reached only through the float
// Conv's vtable, which the runner does not link); every scheme writing its decoding through
// `schemes::Decoding` (kept whole here; the compare's fused metrics measure it a chunk at a time
// instead of keeping a tensor-sized copy): +1.4 KB; together 246,619 B; the ceiling went to 247,500.
// Session 21: core's FP8/FP4 encoder storing eight codes a step (246,224 B), then the GEMMs
// summing only a mostly-zero A's nonzero terms (one-hot inputs: src/gemm/src/sparse.rs, f32 and
// integer) and OneHot's fill-and-write: 248,334 B; the ceiling went to 249,000.
// Session 22: the integer depthwise Conv by tap pairs (src/engine/src/ops/depthwise_int.rs, in
// place of the phase-split loop; the int8 Conv is linked through `Model::quantize`), the
// quantization's byte read from q + 2²³ and the panel rows' fixed-size copies (ppocr_cls INT8
// 1.3-1.7× faster): 250,613 B; the ceiling went to 251,000. Session 23: the engine's
// whole-tensor ReduceMax/ReduceMin and QuantizeLinear's float32 per-tensor path (static QDQ's
// calibration and the QDQ file's run, 3× faster on ppocr_rec; the runner links both):
// 250,699 → 251,386 B (main's build against this one); the ceiling went to 251,500. Session 24:
// the float kernels of issue 13's FP32 speed (the recurrent layers' packed GEMMs, Resize
// nearest's gather, the separable MaxPool, the panel groups) and core's INT/FP8/NF4 quantize
// kernels of issue 15, each under the ceiling alone: 251,504 B together; the ceiling went to 252,000.
// Session 26 (issue 13's FP32 speed on PP-OCR): the Conv epilogue's scalar steps, the
// one-position Conv, Softmax's vectorized exp, the float depthwise kernel (ppocr_rec FP32 about
// 0.7× the time) and float32 Split's contiguous copies: 251,257 → 252,530 B (the branch point's
// build against this one); the ceiling went to 253,000. Session 27: a model's parameters, size
// and op counts take in its Constants and If/Loop/Scan subgraphs (silero-vad had shown 0
// parameters) and the dynamic and weight-only copies quantize inside them (+~2 KB); a Conv's
// constant weights packed for the GEMM once and kept (the panel path's A, float and int8, and Wᵀ
// for the Convs over fewer than 8 positions, which run as Yᵀ = Pᵀ·Wᵀ; silero's encoder ran 2-3×
// faster: 252,422 → 254,391 B in the helper's worktree): 257,081 B in main's checkout; the
// ceiling went to 258,000.
test('the runner module is under 258 KB gzipped', async () => {
  const gz = gzipSync(await pkg('pkg-run', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 258_000, `www/pkg-run/quantscope_bg.wasm is ${gz} bytes gzipped`);
});

// The models module (src/models: the runner plus every op of the engine, loaded by the Run
// view's worker when a person drops their own model) was 346,402 B gzipped when it was split
// from the runner (which went from 300,282 B to 226,614 B), and 394,450 B with issue 13's ops
// (reductions, Pad and the index ops, the normalizations, Resize, ConvTranspose, Einsum,
// NonZero, LSTM/GRU/RNN, If and Loop with the subgraph loader, float16 through float32
// kernels). A ceiling, as the runner's: new ops must pay for themselves. Session 11 raised it
// from 397,000 to 410,000 for what it added, measured by gzip -9: Size, OneHot, ai.onnx.ml's
// ArrayFeatureExtractor and the lookup of other domains' ops (real models need them: 390,402 →
// 395,920 B) and layer_errors, the Which-layers-hurt comparison (→ 402,465 B; 406,765 B by
// node's zlib, which this test uses), then the direct depthwise Conv kernels (409,730 B by node's
// zlib, 405,332 by gzip -9). The module loads only when a person drops a model. Session 13 added
// the importance matrix of a person's own model (the runner's ImportanceCollector): 413,704 B by
// node's zlib, and the ceiling went from 412,000 to 415,000. Session 16 added com.microsoft
// MatMulNBits, so that the weight-only INT4 files the page writes (and ONNX Runtime's) run and are
// compared with FP32: 409,590 → 412,107 B by gzip -9, 416,665 B by node's zlib; the ceiling went
// to 418,000. Session 17 added MatMulNBits with float (HQQ) zero points and float16 A and
// scales and com.microsoft GatherBlockQuantized, so that the page's HQQ, FP16 and Gather-table
// weight-only files run (416,665 → 420,784 B by node's zlib), and made the real CNNs 1.1-2.3×
// faster (see README, Benchmarks): Conv straight into the GEMM's panels, the fused Conv →
// BatchNormalization → activation chains and their matching, tabled pooling windows,
// ConvTranspose through the GEMM, vectorized LSTM products and Sigmoid (+12,911 B on its own);
// together 432,610 B by node's zlib; the ceiling went to 435,000. Session 19: the same int8 Conv
// panels and epilogues as the runner's (one integer-conv body for the four type pairs) and
// subgraphs folding their enclosing graph's constants: 434,728 → 438,338 B; the ceiling went
// to 439,000. Session 20: the int8 Conv fused with the BatchNormalization and activation after
// it (FusedQuantConv, its chain matching shared with the float Conv's) and the integer depthwise
// phase-split planes (ppocr_cls INT8 1.1× faster): 438,317 → 441,003 B; com.microsoft
// DynamicQuantizeLSTM (what ONNX Runtime's quantize_dynamic, and now the page's, makes of an
// LSTM; ddddocr's quantized CRNN needs it) +9.6 KB (keeping its activations, GEMM calls and
// quantization out of line did not shrink it, ≤ 160 B); every scheme writing its decoding
// through `schemes::Decoding` +1.7 KB: together 452,534 B; the ceiling went to 453,500.
// Session 21: the Scan op (src/engine/src/ops/scan.rs: slicing along any axis, stacking along
// any axis, its attribute checks; one `pick` per element type for both index maps) 452,065 →
// 459,386 B (base and branch built alike), and the ceiling went to 460,000. With the GEMMs'
// mostly-zero-A paths and OneHot's fill (as the runner's, above; magika 1.6× faster): 461,579 B;
// the ceiling went to 462,500. Session 22: as the runner's (the depthwise tap pairs, the
// quantization's byte read, the panel rows' copies) and MaxPool's 2-D path: 461,579 →
// 465,492 B (base and branch built alike); the ceiling went to 466,000. Session 23: static QDQ
// on a 10 MB model with 32 inputs (scripts/bench-onnx-static.mjs) — ReduceMax/ReduceMin of a
// whole tensor and QuantizeLinear's per-tensor path, and observe_tensors, which streams each
// calibrated tensor to the histogram calibration (all of them at once did not fit in a tab):
// 464,419 → 467,305 B (main's build against this one); the ceiling went to 468,500. Session 24
// (issue 13's FP32 speed): the recurrent layers' packed weights, GEMM over every step and
// vectorized cell, Resize nearest's gather, the separable MaxPool and `profile_run` (the per-op
// profile of scripts/profile-real-model.mjs): 467,096 → 473,500 B (the branch point's build
// against this one); and MinMax's ranges taken as the engine makes each tensor (observe_ranges,
// onnx-quant's SIMD128 NaN-skipping range; the run without the augmented model's 2 × 716
// reductions is 1.5–2× faster on ppocr_rec), observe_tensors and it sharing one loop: +1,907 B;
// together 475,639 B; the ceiling went to 476,000. Session 26, as the runner's (the Conv
// epilogue's scalar steps, the one-position Conv, Softmax's vectorized exp, the float depthwise
// kernel, Split): 475,764 → 480,289 B (the branch point's build against this one, in the helper's
// worktree). The same sources measure ~900 B more in main's checkout (session 25's: 476,651 B
// there, 475,764 in the worktree, and under 476,000 in the clean-clone CI run): the build's
// environment moves them by ~1 KB, so the ceiling went to 482,000. Session 27: the com.microsoft
// ops ONNX Runtime's transformer optimizer writes for a BERT-like encoder and what its
// quantize_dynamic makes of them (Attention, QAttention, EmbedLayerNormalization,
// QEmbedLayerNormalization, SkipLayerNormalization, BiasGelu, FastGelu, Gelu: src/engine/src/ops/
// attention.rs, embed_norm.rs, skip_norm.rs, bias_gelu.rs), so that an ORT-optimized transformer
// runs in the page, their constant weights packed at load: 481,597 → 494,750 B by node's zlib
// (main's build against the helper's); the subgraph accounting and quantization inside
// If/Loop/Scan, the layer comparison's passes (499,525 B in main's checkout); and, as the
// runner's, Conv weights packed once and the few-positions Conv, Pow's x·x and Pad's rows
// (480,213 → 484,155 B in that helper's worktree): 502,940 B in main's checkout; the ceiling went
// to 504,000. Session 28: the float 3×3 stride-1 Conv by Winograd F(2×2, 3×3) (src/engine/src/
// ops/winograd.rs: the weight, input and output transforms in SIMD128 lanes, the blocks of tiles
// through the packed-A GEMM; nudenet and ddddocr_det FP32 1.2–1.3× faster, which had been level
// with onnxruntime-web): 502,940 B (main's checkout) → 508,826 B (the helper's worktree, which
// has measured up to ~1 KB less than main's checkout for the same sources); the ceiling went to
// 511,000.
test('the models module is under 511 KB gzipped', async () => {
  const gz = gzipSync(await pkg('pkg-models', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 511_000, `www/pkg-models/quantscope_bg.wasm is ${gz} bytes gzipped`);
});

// The workbench (the five readers, every scheme, the plots, the GGUF writer) was 489,773 B
// gzipped (node's zlib, level 9) while it carried the Learn panels too; session 10 moved those to
// the tutor module (www/pkg-learn, loaded when Learn opens), and the workbench fell to 402,662 B, the tutor 215,359 B.
// llama.cpp's mixes live in the mixer module (www/pkg-mix). Issue 15's goal is 300 KB, not met; these ceilings keep both from growing unnoticed.
// Session 11: the importance-matrix library (formats::imatrix, the weighted quantizers' entry
// points the GGUF export now names) took it from 407,6xx to 409,701 B (node's zlib); the ceiling
// went from 410,000 to 412,000, which leaves no room: the next addition must make some.
// Session 16 did not: the faster packing (each legacy ggml type's SIMD128 loop inlined on its
// own, the INT4/INT2 in-place pack kernels and the min/max group kernel) took it to 412,043 B;
// the ceiling was 414,000. Session 18 met issue 15's 300 KB by moving out what the worker does
// not need for the page to start: the plots went to the main thread's plot module (www/pkg-plot,
// src/plots; the main thread had loaded the whole workbench to draw two charts): 412,418 →
// 354,158 B by node's zlib; the .npz and ONNX readers (zip, inflate and its CRC tables, the protobuf decoder,
// the ONNX weight descriptions) to the reader module (www/pkg-read, src/reader), which the
// worker loads when such a file is first opened: → 275,156 B. The ceiling went to 278,000.
// Session 20: the GGUF export's chunks handed to a pool of workers (gguf_writer::Work, the JS
// objects of wasm_common::gguf_work, gguf_encode): 275,352 → 278,464 B; every scheme writing its
// decoding through `schemes::Decoding` (the compare's fused metrics measure it a chunk at a time
// instead of keeping a tensor-sized copy per scheme) +2.7 KB: together 281,136 B; the ceiling
// went to 282,500. Session 21: core's `fast-kernels` feature, which only this module and the
// bench turn on (chunked float casts, one-pass INT groups, 16-lane NF4 codes, SIMD128 Q2_K/Q3_K/
// Q5_K/Q1_0 dequantize; issue 15's speed goals, which allow this module up to 300 KB):
// 283,326 B; the ceiling went to 284,500. The runner, models, lm, tutor and mixer do not get it.
// Session 22 (issue 15's speed goals): FP16/BF16/FP8/FP4 quantize in one SIMD128 pass per chunk
// and decoded straight from the bytes, the kept decoding and every dequantize written once through
// a chunk in cache, NF4's binary-search codes packed per block: 286,342 B; the ceiling went to
// 287,500. With the session's other merges (the engine's and onnx-quant's changes reach it
// through shared code) main's build measured 287,715 B: the ceiling went to 288,500, still
// under issue 15's 300 KB goal. Session 23: FP16/BF16/FP8/FP4 dequantize (and the FP8/FP4
// quantize's decoding) through fast SIMD128 steps — FP16 by one multiplication where every lane is
// normal or zero, FP8/FP4 by a 16-entry byte table — 1.15–1.76× in Chromium: 287,723 → 288,960 B
// (node's zlib, the same base built alike); the INT quantizer's (bias-converted codes, a min-max
// without the infinity bitselects, a level count that skips seen codes), with it and the min-max
// out of line: 288,479 B. The ceiling went to 289,500. Session 24 (issue 15's quantize goals):
// INT codes by the reciprocal where it provably rounds alike, levels counted per chunk, per-channel
// rows in one pass; FP16/BF16/FP8/FP4 plain steps and the level run; NF4's cell table; Q8_0
// decoded in registers: 294,340 B (Q8_0/Q4_0/Q5_0 four blocks at a time, 4.1 KB more, showed no
// gain and were cut). The ceiling went to 295,500, under issue 15's 300 KB goal. Session 27:
// Q4_0/Q5_0 decoded in registers, SIMD128 dequantize of IQ4_NL/IQ4_XS/NVFP4/Q2_0/TQ2_0 (2–2.8×),
// k-means read a word at a time (2.4–3.6×), short f16 block scales, the per-group min-max
// inlined: 293,575 → 296,712 B. The ceiling went to 297,500, under issue 15's 300 KB goal.
test('the workbench module is under 297.5 KB gzipped and has no plots and no .npz or ONNX reader', async () => {
  const gz = gzipSync(await pkg('pkg', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 297_500, `www/pkg/quantscope_bg.wasm is ${gz} bytes gzipped`);
  const workbench = await exportsOf('pkg');
  assert.ok(workbench.has('reader_module_reads'));
  for (const name of ['draw_histograms', 'draw_sqnr_chart', 'read_file']) assert.ok(!workbench.has(name), `the workbench has ${name}`);
});

// The plot module (src/plots: the Inspect view's histograms and SQNR chart with plotters, and
// their label placement), the only wasm the page's main thread loads, was 89,152 B by node's zlib
// when it was split from the workbench in session 18.
test('the plot module is under 92 KB gzipped', async () => {
  const gz = gzipSync(await pkg('pkg-plot', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 92_000, `www/pkg-plot/quantscope_bg.wasm is ${gz} bytes gzipped`);
});

// The reader module (src/reader: .npz and ONNX files read whole — zip, inflate, the protobuf
// decoder, the ONNX weight descriptions — loaded by the Inspect worker when such a file is first
// opened) was 119,315 B by node's zlib when it was split from the workbench in session 18.
test('the reader module is under 121 KB gzipped and carries only the reader', async () => {
  const gz = gzipSync(await pkg('pkg-read', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 121_000, `www/pkg-read/quantscope_bg.wasm is ${gz} bytes gzipped`);
  const reader = await exportsOf('pkg-read');
  assert.ok(reader.has('read_file'));
  for (const name of ['Workspace', 'scheme_list', 'draw_histograms', 'Engine', 'Lesson', 'GgufMixer']) assert.ok(!reader.has(name), `the reader module has ${name}`);
});

// The tutor links every scheme (the Learn panels look schemes up by id); the k-means family,
// added in the same session as this ceiling (then 220,000 B), took it from 215,359 to 221,715 B.
// Session 20: every scheme writes its decoding through `schemes::Decoding` (kept whole here, or
// measured a chunk at a time by the compare's fused metrics, which spare a tensor-sized copy per
// scheme): 224,655 → 226,339 B; the ceiling went from 225,000 to 227,000.
test('the tutor module (the Learn panels) is under 227 KB gzipped', async () => {
  const gz = gzipSync(await pkg('pkg-learn', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 227_000, `www/pkg-learn/quantscope_bg.wasm is ${gz} bytes gzipped`);
});

// The trainer (src/trainer over src/train: the MLP, its optimizers, torch.ao's fake
// quantization, pruning, and the .npy reader) was 68,132 B by gzip -9 when pruning was added,
// in the session that added the module; 70,803 B before the Learn view's STE trace
// (src/train/src/trace.rs and its one export, +1.4 KB) and k-means weight sharing (the library's
// kmeans fit and f16 codebook, linked from quantscope-core so the codebook is the scheme's own,
// about 2 KB gzipped; the centroid training and the shared run, about 3.5 KB) with dynamic PTQ
// (+0.3 KB), which came in the same session; the ceiling went from 72,000 to 80,000 B. Session
// 16: static PTQ with every calibration (the library's percentile, entropy and MSE searches and
// numpy's histogram, linked from quantscope-core so the ranges are the library's own) took it
// from 78,079 to 84,470 B, and the conv net (src/train/src/conv.rs: Conv2d, ReLU, MaxPool2d,
// Flatten and Linear layers, forward and backward, its QAT nodes, the trainer's conv steps, and
// the facade's conv run; 78,079 → 93,348 B alone) to about 100 KB; the ceiling was 104,000 B.
// Session 18: LSQ, k-means weight sharing and distillation for the conv net (its LSQ backward
// through each node, the input node's gradient, per-tensor codebooks of its weights, a conv teacher
// and a conv student in the trainer and the facade: 101,623 → 105,440 B alone), and the conv net's
// products on quantscope-gemm's SIMD128 panel kernel (its micro-kernels and A packing, linked into
// this module for the first time, with SIMD patch panels: 101,623 → 109,183 B alone, for 2× the
// conv net's training speed) took it to 113,471 B; the ceiling was 116,000 B. Session 19: the conv
// backward's products over the gradient's nonzeros (src/train/src/conv_sparse.rs, kept beside the
// dense ones for nets without a max pool: 115,067 → 117,349 B, for ~1.06–1.12× the conv net's
// FP32 steps per second by CPU time); the ceiling is 118,000 B. Session 20: the conv backward
// only over the nonzeros (read from the max pool's argmax; the dense backward products, transpose
// and col2im removed) and a direct SIMD128 forward tile: 117,211 → 116,674 B.
test('the trainer module is under 118 KB gzipped and carries only the training run', async () => {
  const gz = gzipSync(await pkg('pkg-train', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 118_000, `www/pkg-train/quantscope_bg.wasm is ${gz} bytes gzipped`);
  const trainer = await exportsOf('pkg-train');
  assert.ok(trainer.has('TrainingRun'));
  for (const name of ['Workspace', 'Engine', 'Lesson']) assert.ok(!trainer.has(name), `the trainer has ${name}`);
});

// The Train view's export module (src/train-export over src/train's convert and src/onnx-quant's
// MLP writer: a trained run as a QDQ or FP32 .onnx, loaded by the Train worker on the first
// "Download as .onnx"; the trainer has no room for a protobuf writer) was 37,356 B by gzip -9 when
// it was added (37,661 B with the uint8-weights choice; 37,698 B in session 17). Session 17: the
// conv net's export (src/train's convert_conv, the zeroed digits net, src/onnx-quant's convnet
// writer with its shape checks and Conv/MaxPool/Flatten nodes, and run_conv_onnx) took it to
// 45,559 B; the ceiling went from 40,000 to 48,000 B.
test('the Train export module is under 48 KB gzipped and carries only the run writer', async () => {
  const gz = gzipSync(await pkg('pkg-train-export', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 48_000, `www/pkg-train-export/quantscope_bg.wasm is ${gz} bytes gzipped`);
  const trainExport = await exportsOf('pkg-train-export');
  assert.ok(trainExport.has('run_onnx') && trainExport.has('run_conv_onnx'));
  for (const name of ['Workspace', 'Engine', 'Lesson', 'TrainingRun', 'quantize_onnx_dynamic']) assert.ok(!trainExport.has(name), `the Train export module has ${name}`);
});

// The mixer (src/mixer: llama.cpp's mix rules, the GGUF reader and writer and every ggml
// quantizer, loaded by the Inspect worker when a mix is picked) was 301,565 B by gzip -9 when
// it was split out, which kept the rules' ~14 KB out of the workbench. The page's importance
// matrices (issue 16 item 3: the imatrix reader, ImatrixFile, and the weighted quantizers of
// core::schemes::importance that make a mix byte-identical to llama-quantize --imatrix) took it
// from 303,793 B to 330,379 B; the ceiling went from 310,000 to 335,000 B with them (the module
// loads only when a mix is picked or an imatrix is loaded).
// Session 12: the mixer opens files with formats::lazy::open_gguf_file, so no other format's
// reader (zip, npz, ONNX protobuf, safetensors) is linked: 336,747 → 192,898 B; with "fit a size"
// and the IQ1-IQ3 grid quantizers (which had been two more builds of this crate, www/pkg-fit and
// www/pkg-mix-iq) in it again, 227,418 B. The ceiling went from 335,000 to 235,000.
// Session 13: the Learn view's grid block decoder and its blocks with and without an imatrix
// (→ 234,162 B), then core's extra-simd kernels (Q2_0, TQ2_0, TQ1_0 blocks, which the GGUF
// export needs for llama.cpp's speed): 235,579 B. The ceiling went to 237,000.
// Session 17: core's integer quantize fast path (16 values a step, 2.1-2.7 GB/s for INT8/INT2):
// 237,029 B; the ceiling went to 238,000.
// Session 20: a mix's chunks handed to a pool of workers (GgufMixer::work, mix_encode):
// 237,113 → 240,962 B; every scheme writing its decoding through `schemes::Decoding` (the
// compare's fused metrics measure it a chunk at a time) +2.9 KB: together 243,718 B; the ceiling
// went to 244,500.
test('the mixer module is under 244.5 KB gzipped and carries only the mixer, its fit and its grid quantizers', async () => {
  const gz = gzipSync(await pkg('pkg-mix', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 244_500, `www/pkg-mix/quantscope_bg.wasm is ${gz} bytes gzipped`);
  const mixer = await exportsOf('pkg-mix');
  assert.ok(mixer.has('GgufMixer') && mixer.has('ImatrixFile') && mixer.has('shape_plan'));
  for (const name of ['Workspace', 'Engine', 'Lesson', 'TrainingRun']) assert.ok(!mixer.has(name), `the mixer has ${name}`);
  const methods = (await pkg('pkg-mix', 'quantscope.js')).toString();
  assert.ok(methods.includes('measure_begin('), 'the fit is in the mixer');
});

// The exporter (src/exporter over src/onnx-quant: ONNX Runtime's quantize_dynamic and the
// wire-level model rewrite, loaded by the Run worker when a quantized .onnx is asked for) was
// 83,910 B by gzip -9 when it was added. Session 13 made it the Run view's writer of llama.cpp's
// imatrix.gguf too (the runner gathers the statistics, src/runner/src/importance.rs, but had no
// room for the GGUF writer's layout): 94,640 B, and the ceiling went from 90,000 to 100,000.
// Session 21: quantize_dynamic inside If/Loop/Scan subgraphs (ONNX Runtime's EnableSubgraph: a
// scope per subgraph, subgraphs decoded, quantized, cleaned and written back at the wire
// level, nodes with subgraphs made again) 99,692 → 111,582 B, and the ceiling went to 112,500.
// Session 22: Gemms split in every subgraph as ONNX Runtime splits them (gemm.rs walking the
// subgraphs, a subgraph written back with its new nodes and transposed weights): 114,295 B
// (the raw module went 309,299 → 308,708 B; its gzip grew), and the ceiling went to 115,000.
// Session 23: Gathers of constant tables, ConvInteger on a computed weight and the reload's
// data_location (dynamic.rs, graph::reloaded): 116,413 B, and the ceiling went to 117,000.
// Session 25: float16 embedding tables quantized as ONNX Runtime does (weights::per_tensor_half,
// half's f64 → f16 rounding): 118,710 B, and the ceiling went to 119,500. Session 26: per-channel
// weights read in the weight's own order and a float32 Gemm weight transposed in tiles (dynamic
// INT8 of ddddocr_common, 54 MB, 662 → 270 ms CPU in Node): 120,029 B, and the ceiling went to 120,500.
// Session 27: ONNX Runtime's AttentionQuant and EmbedLayerNormalizationQuant (an ORT-optimized
// transformer's Attention → QAttention, EmbedLayerNormalization → QEmbedLayerNormalization,
// src/onnx-quant/src/dynamic/transformer.rs): 120,179 → 122,666 B (main's build against the
// helper's), and the ceiling went to 123,000.
test('the exporter module is under 123 KB gzipped and carries only the exporter', async () => {
  const gz = gzipSync(await pkg('pkg-export', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 123_000, `www/pkg-export/quantscope_bg.wasm is ${gz} bytes gzipped`);
  const exporter = await exportsOf('pkg-export');
  assert.ok(exporter.has('quantize_onnx_dynamic') && exporter.has('imatrix_file'));
  for (const name of ['Workspace', 'Engine', 'Lesson', 'TrainingRun', 'GgufMixer']) assert.ok(!exporter.has(name), `the exporter has ${name}`);
});

// The weight-only INT4 module (src/nbits over src/onnx-quant's nbits.rs and blockwise.rs: ONNX
// Runtime's MatMulNBitsQuantizer and the wire-level model rewrite, loaded by the Run worker when
// that file is asked for) was 70,011 B by gzip -9 when it was added in session 16 (in the
// exporter it would have taken that module from 94,434 to 104,402 B, past its ceiling); 2- and
// 8-bit MatMulNBits and the reshape chain after a squeezed B (session 17) took it to ~74,100, HQQ
// (its solver and powf) to ~78,000, FLOAT16 weights to 79,307, Gather tables to 82,674. Session
// 21 cut it into a plan and per-weight jobs for the page's pool of workers (NBitsPlan,
// encode_nbits_weight) in place of the one-call quantize_onnx_nbits: 83,009 → 90,679 B, measured
// both on the same machine (the plan and the file's writing became two functions, the quantizers'
// dispatch a third, beside the jobs' transport and the checks of a worker's answer), so the
// ceiling went from 84,000 to 91,500. A pool worker loads the whole module though it needs only
// the quantizers; a module of its own for them would save the pool's downloads. Session 22 added
// ONNX Runtime's GPTQ (GptqPlan: the Hessians, neural-compressor's gptq and its MatMulNBits
// writer, its topological sort, the calibration model): 90,412 → 113,859 B measured on the same
// machine, after keeping new hash-map types, a library sort, float formatting and ONNX message
// clones out of it (from 132,536), so the ceiling went from 91,500 to 115,000.
// On main with the session's other merges (core's and onnx-quant's changes) 114,987 B: the
// ceiling went to 116,000. Session 23's GPTQ with error feedback (H⁻¹'s upper factor from
// src/ptq's linalg, the row and block updates) took it past 116,000 (116,338 B by the build's gzip): 117,000. GPTQ on the pool
// (GptqPlan's job interface, gptq_encode_weight and the weight's trip as bytes, ~10 KB of code
// before gzip, half of it wasm-bindgen's wrappers of the eleven new exports) to 121,008 B: 121,500.
test('the weight-only INT4 module is under 121.5 KB gzipped and carries only its writer', async () => {
  const gz = gzipSync(await pkg('pkg-nbits', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 121_500, `www/pkg-nbits/quantscope_bg.wasm is ${gz} bytes gzipped`);
  const nbits = await exportsOf('pkg-nbits');
  assert.ok(nbits.has('NBitsPlan') && nbits.has('encode_nbits_weight') && nbits.has('GptqPlan'));
  for (const name of ['Workspace', 'Engine', 'Lesson', 'TrainingRun', 'quantize_onnx_dynamic', 'quantize_onnx_static']) {
    assert.ok(!nbits.has(name), `the weight-only INT4 module has ${name}`);
  }
});

// The converter (src/converter over src/onnx-quant's float16.rs: onnxconverter_common's
// convert_float_to_float16 for FP16 and BF16 and the wire-level model rewrite, loaded by the Run
// worker when an FP16 or BF16 file is asked for) was 62,557 B by node zlib gzip -9 when it was
// added in session 14 (in the exporter it would have taken that module from 95,481 to 119,557 B);
// with the table of the opsets that allow bfloat16 per op (bf16_opsets.rs) and the check that a
// BF16 file is valid ONNX: 68,018 B.
test('the converter module is under 70 KB gzipped and carries only the FP16/BF16 converter', async () => {
  const gz = gzipSync(await pkg('pkg-convert', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 70_000, `www/pkg-convert/quantscope_bg.wasm is ${gz} bytes gzipped`);
  const converter = await exportsOf('pkg-convert');
  assert.ok(converter.has('convert_onnx_half'));
  for (const name of ['quantize_onnx_dynamic', 'imatrix_file', 'Workspace', 'Engine', 'Lesson', 'TrainingRun', 'GgufMixer']) {
    assert.ok(!converter.has(name), `the converter has ${name}`);
  }
});

// The static QDQ module (src/qdq over src/onnx-quant's static_qdq.rs: ONNX Runtime's
// quantize_static in QDQ format, its augmented calibration model and the wire-level model rewrite,
// loaded by the Run worker when a static INT8 file is asked for) was 95,860 B by gzip -9 when it
// was added in session 14 (in the exporter it would have taken that module from 94,544 to
// 124,912 B). Session 15's histogram calibration model took it from 95,798 to 97,177 B; session
// 16's QDQ rules for Resize, Pad, Split, Gather, Where and the normalizations to 100,030 B
// (ceiling 100,000 → 103,000).
test('the static QDQ module is under 103 KB gzipped and carries only the QDQ writer', async () => {
  const gz = gzipSync(await pkg('pkg-qdq', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 103_000, `www/pkg-qdq/quantscope_bg.wasm is ${gz} bytes gzipped`);
  const qdq = await exportsOf('pkg-qdq');
  assert.ok(qdq.has('quantize_onnx_static') && qdq.has('static_calibrated_tensors'));
  for (const name of ['quantize_onnx_dynamic', 'convert_onnx_half', 'imatrix_file', 'Workspace', 'Engine', 'Lesson', 'TrainingRun', 'GgufMixer', 'StaticCalibration']) {
    assert.ok(!qdq.has(name), `the static QDQ module has ${name}`);
  }
});

// The calibration module (src/calib over src/onnx-quant's calibrate.rs: ONNX Runtime's
// Percentile, Entropy and Distribution calibration, loaded by the Run worker beside the static
// QDQ module when one of them is chosen) was 21,762 B by gzip -9 when it was added in session 15;
// in the static QDQ module it would have taken that from 97,177 to 108,131 B. Session 24: the
// histograms' SIMD128 kernels (one statistics pass, four-lane bins, the sure-bin fast path) and
// MinMax's range kernel: 24,500 B.
test('the calibration module is under 25 KB gzipped and carries only the calibrations', async () => {
  const gz = gzipSync(await pkg('pkg-calib', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 25_000, `www/pkg-calib/quantscope_bg.wasm is ${gz} bytes gzipped`);
  const calib = await exportsOf('pkg-calib');
  assert.ok(calib.has('StaticCalibration'));
  for (const name of ['quantize_onnx_static', 'static_calibrated_tensors', 'quantize_onnx_dynamic', 'Workspace', 'Engine']) {
    assert.ok(!calib.has(name), `the calibration module has ${name}`);
  }
});

// The language-model module (src/lm over src/llm: the GGUF reader, llama.cpp's mix writer and
// quantizers for the in-memory Q8_0/Q4_0/Q4_K_M copies, the tokenizer's Unicode tables and the
// forward pass; loaded by the Run view's Language model worker when that section is first used)
// was 385,176 B by node zlib gzip -9 when it was added (release build of scripts/build-wasm.sh).
// Session 12 added the importance matrix (llama-imatrix's statistics and file) and any type added
// in the page made with it, which brings llama.cpp's weighted quantizers (kquants/weighted.rs)
// into the module: 400,473 B; then llama-perplexity's KL divergence statistics: 405,210 B. The
// ceiling went from 390,000 to 410,000. Then it opened files with formats::lazy::open_gguf_file
// (no zip, npz, ONNX or safetensors reader linked): 411,422 → 258,056 B with the sensitivity
// probes; the ceiling went down to 265,000 to keep the gain.
test('the language-model module is under 372 KB gzipped and carries only the language model', async () => {
  const gz = gzipSync(await pkg('pkg-lm', 'quantscope_bg.wasm'), { level: 9 }).length;
  // 265,000 → 315,000 in session 14: GPTQ (src/ptq, llm::gptq, lm::calibrated, +24 KB) and AWQ
  // (ptq::awq, llm::awq, lm::awq, +27 KB) in the page. 315,000 → 325,000 in session 16: the Q2_K,
  // Q3_K and Q5_K kernels (a SIMD128 body for four rows and one each) and the Q8_1 one (+5 KB), and the memory check
  // before a load (lm_memory_needed: the lazy file reader and the mix planner, +3 KB). 325,000 →
  // 352,000 in session 18 (321,228 → 349,994 B): the SentencePiece tokenizer, the gemma, gemma2
  // and gemma3 graphs and rope_freqs (+8.4 KB), and llama.cpp's IQ1–IQ3 grid quantizers (core's
  // iq-grids, +20.4 KB) for the IQ2_XS mix of Add this type. 352,000 → 353,000 in session 19
  // (351,828 → 352,494 B): an F16 model's copies, sensitivity probes, GPTQ and AWQ (the large
  // built-in model is F16; its matrices widened to F32 for GPTQ/AWQ). 353,000 → 355,000 in the same
  // session (→ 354,289 B): the prompt run through each matrix a block of tokens at a time
  // (Session::steps, Matrix::matmul's row tiles; F32 prompts 1.37× faster, bit-identical logits).
  // 355,000 → 359,000 in session 20 (→ 358,322 B): every scheme, the IQ grid types among them,
  // writes its decoding through `schemes::Decoding` (kept whole here; the compare's fused metrics
  // measure it a chunk at a time instead of keeping a tensor-sized copy), and a repeated token
  // text is refused and add_eos_token honoured as llama.cpp does. 359,000 → 362,000 in session 22
  // (356,375 → 360,326 B): the prompt's tile kernels (F32, Q8_0 and the K-quants, a rows × tokens
  // body each with its edges) and the four-lane exp of the softmax and SwiGLU (prompts 1.2–1.8×);
  // → 365,260 B with a tile's leftover token sent to the matrix-vector kernels (inlined per type);
  // on main with the session's other merges (core's shared code) 366,912 B: the ceiling is 368,000.
  // 368,000 → 370,000 in session 23 (365,248 → 367,052 B on its branch): the K-quant kernels'
  // sub-block helpers shared with the relaxed-SIMD build, the activations' amax as an integer
  // max (exact in that build too), and llama.cpp's "bad special token" warning kept for the page.
  // 370,000 → 372,000 in session 24 (368,902 → 370,445 B by this test's gzip, 366,978 → 368,734
  // by gzip -9): the prompt kernels' K-quant super-block epilogues as f32x4 lanes of the tile,
  // Q8_0's activations widened once per matrix, and attention's score and value loops as SIMD128
  // kernels (Q4_K_M and Q5_K_M prompts ~1.1×, Q8_0 ~1.05×, bit-identical logits).
  assert.ok(gz < 372_000, `www/pkg-lm/quantscope_bg.wasm is ${gz} bytes gzipped`);
  const lm = await exportsOf('pkg-lm');
  assert.ok(lm.has('LmSession'));
  for (const name of ['Workspace', 'Engine', 'Lesson', 'TrainingRun', 'GgufMixer']) assert.ok(!lm.has(name), `the language-model module has ${name}`);
});

// What the first paint waits for (issue 15: first paint ≤ 300 ms on a warm cache, timed by
// `node scripts/bench-first-paint.mjs`, never here): index.html's stylesheets and classic script
// and the static import graph of its module script. None of it may be a wasm module (the
// workbench's wasm is fetched by `init()` after the views are mounted), and all of it stays
// under 600,000 B uncompressed (531,059 B in session 17: 41 modules, 5 stylesheets).
test('the first paint waits for no wasm and for under 600 KB of scripts and styles', async () => {
  const { dirname, resolve, relative } = await import('node:path');
  const root = new URL('../../', import.meta.url).pathname;
  const html = await readFile(`${root}index.html`, 'utf8');
  const styles = [...html.matchAll(/<link rel="stylesheet" href="([^"]+)">/g)].map((m) => m[1]);
  const classic = [...html.matchAll(/<script src="([^"]+)"><\/script>/g)].map((m) => m[1]);
  const modules = [...html.matchAll(/<script type="module" src="([^"]+)"><\/script>/g)].map((m) => m[1]);
  assert.ok(styles.length > 0 && modules.length === 1, `index.html: ${styles.length} stylesheets, ${modules.length} module scripts`);
  const seen = new Set();
  const walk = async (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = await readFile(file, 'utf8');
    // static imports only: `import(...)` loads later
    for (const m of text.matchAll(/^\s*import\s+(?:[^'"]*?\s+from\s+)?['"](\.[^'"]+)['"]/gm)) await walk(resolve(dirname(file), m[1]));
  };
  await walk(resolve(root, modules[0]));
  const files = [...styles.map((f) => resolve(root, f)), ...classic.map((f) => resolve(root, f)), ...seen];
  assert.deepEqual(files.filter((f) => f.endsWith('.wasm')), []);
  let bytes = 0;
  for (const f of files) bytes += (await readFile(f)).length;
  console.log(`first paint waits for ${files.length} files, ${bytes} B: ${files.map((f) => relative(root, f)).join(' ')}`);
  assert.ok(bytes < 600_000, `the first paint waits for ${bytes} B of scripts and styles`);
});

// The relaxed-SIMD runner (www/pkg-run-relaxed, the same crate with `+relaxed-simd`: its f32
// GEMM uses f32x4.relaxed_madd; the int8 GEMM is SIMD128's): 245,506 B by node's zlib when it
// was added (session 20), the plain runner then 243,696. Only browsers with relaxed SIMD fetch
// it, instead of www/pkg-run. With the rest of session 20's runner changes merged (the
// integer depthwise planes, schemes::Decoding): 248,445 B, the plain runner 246,619; the
// ceiling went to 249,500. Session 21, as the plain runner's (the GEMMs' mostly-zero-A paths,
// OneHot's fill): 250,158 B; the ceiling went to 251,000. Session 22, as the plain runner's (the
// integer depthwise tap pairs, the quantization's byte read, the panel rows' copies): 252,304
// B; the ceiling went to 253,000. Session 23, as the plain runner's (the whole-tensor
// ReduceMax/ReduceMin, QuantizeLinear's per-tensor path): 252,384 → 253,123 B; the ceiling went
// to 253,500. Session 26, as the plain runner's: 253,156 → 254,095 B; the ceiling went to 254,500.
// Session 27, as the plain runner's (subgraphs counted and quantized; Conv weights packed once):
// 258,616 B in main's checkout; the ceiling went to 259,500.
test('the relaxed-SIMD runner module is under 259.5 KB gzipped', async () => {
  const gz = gzipSync(await pkg('pkg-run-relaxed', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 259_500, `www/pkg-run-relaxed/quantscope_bg.wasm is ${gz} bytes gzipped`);
});

// The relaxed-SIMD language model (www/pkg-lm-relaxed, src/lm with `+relaxed-simd`: the Q4_K,
// Q5_K and Q2_K products' sub-block sums from i16x8.relaxed_dot_i8x16_i7x16_s, exact): 366,943 B
// by gzip -9 when it was added (session 23), the plain module then 365,248 in the same branch;
// 367,838 and 367,052 at the end of that session. Only browsers with relaxed SIMD fetch it,
// instead of www/pkg-lm. The ceiling is the plain module's plus 2,000 B: 374,000 since session 24
// (369,615 → 371,639 B by this test's gzip, 367,798 → 369,393 by gzip -9; the prompt kernels of
// the plain module's ceiling note).
test('the relaxed-SIMD language-model module is under 374 KB gzipped and carries the plain one\'s surface', async () => {
  const gz = gzipSync(await pkg('pkg-lm-relaxed', 'quantscope_bg.wasm'), { level: 9 }).length;
  assert.ok(gz < 374_000, `www/pkg-lm-relaxed/quantscope_bg.wasm is ${gz} bytes gzipped`);
  assert.deepEqual([...(await exportsOf('pkg-lm-relaxed'))].sort(), [...(await exportsOf('pkg-lm'))].sort());
});

//! quantscope's command-line tool: the same core as the page, for files on disk and for CI.
//!
//!   quantscope inspect FILE... [--json]
//!   quantscope compare FILE [--tensor NAME] [--scheme ID]... [--axis N] [--json]
//!   quantscope quantize FILE [--tensor NAME] --scheme ID [--axis N] --out OUT.bin [--dequantized DEQ.npy]
//!   quantscope schemes [--json]
//!   quantscope export MODEL --scheme TYPE --out OUT.gguf
//!   quantscope export MODEL.gguf --type FTYPE --out OUT.gguf [--pure] [--output-tensor-type T] [--token-embedding-type T] [--tensor-type P=T]... [--dry-run]
//!   quantscope quantize-onnx MODEL.onnx --out OUT.onnx [--weight-type int8|uint8] [--per-channel] [--reduce-range] [--subgraphs]
//!   quantscope quantize-onnx MODEL.onnx --out OUT.onnx --static --calibration [NAME=]C.npy... [--per-channel] [--activation-type uint8|int8]
//!     [--calibrate-method minmax|percentile|entropy|distribution] [--percentile P] [--bins N] [--force-quantize-no-input-check]
//!   quantscope quantize-onnx MODEL.onnx --out OUT.onnx --nbits 2|4|8 [--block-size 128] [--symmetric] [--format qoperator|qdq] [--accuracy-level N]
//!   quantscope quantize-onnx MODEL.onnx --out OUT.onnx (--fp16 | --bf16)
//!   quantscope eval [--model www/models/mnist_mlp.onnx] [--data www/models/mnist_test.npz] [--json]
//!   quantscope run MODEL.onnx --input [NAME=]X.npy... [--scheme VARIANT] [--calibration [NAME=]C.npy...] [--out Y.npy|Y.npz]
//!   quantscope generate MODEL.gguf --prompt TEXT [--tokens N] [--seed S [--temperature T] [--top-k K]] [--ctx N]
//!   quantscope perplexity MODEL.gguf --text FILE [--ctx N] [--chunks N] [--json]
//!
//! Exit codes: 0 success, 1 bad input (a message on stderr), 2 bad usage.

//!
//! Native only: built for wasm32 (a `--workspace` check), the binary is empty.

#[cfg(not(target_arch = "wasm32"))]
mod commands;
#[cfg(not(target_arch = "wasm32"))]
mod lm;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    commands::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}

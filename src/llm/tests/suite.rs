//! Every integration test of quantscope-llm in one test binary: one link natively and one
//! browser session under wasm-pack, instead of one of each per file. Cargo.toml says
//! `autotests = false`, so a new file under tests/ runs only once it is listed here
//! (scripts/check-test-suites.sh fails the test run when one is not).
#[macro_use]
#[path = "../../../tests/common/mod.rs"]
mod common;

browser_tests!();

mod archs;
mod awq;
mod bad_input;
mod generate;
mod gptq;
mod imatrix;
mod kernels;
mod kl_divergence;
mod kquant_logits;
mod logits;
mod memory;
mod more_types;
mod perplexity;
mod prompt_block;
mod q8_1;
mod quantized;
mod tiny_lm;
mod tokenizer;
mod tokenizer_special;

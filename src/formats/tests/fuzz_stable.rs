//! The stable-Rust fuzz driver (fuzz/stable_driver.rs, scripts/fuzz.sh's fallback when nightly
//! or cargo-fuzz is missing) runs every target for 2 s in all: mutated fixtures, no panic.
//! Native only (it reads the fixture directories and keeps time with `Instant`).
#![cfg(not(target_arch = "wasm32"))]

#[path = "../../../fuzz/stable_driver.rs"]
mod driver;

use std::path::Path;
use std::time::Duration;

#[test]
fn every_target_survives_two_seconds_of_mutated_fixtures() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures");
    let each = Duration::from_secs(2) / driver::TARGETS.len() as u32;
    for (target, _) in driver::TARGETS {
        let seeds = driver::seeds(&root, target).len() as u64;
        let r = driver::fuzz(&root, target, each, 20261123, None);
        assert!(r.crash.is_none(), "{target} panicked on an input (seed {}): {:?}", r.seed, r.crash.map(|c| c.len()));
        assert!(r.runs > seeds, "{target}: only {} runs for {seeds} seeds, no mutant was tried", r.runs);
    }
}

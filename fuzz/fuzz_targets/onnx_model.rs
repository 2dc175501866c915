//! Arbitrary bytes through the engine's graph loader (src/engine/src/graph.rs: decode, build each
//! op, check references, sort, fold constants, prepack weights), and, when the model loads and
//! declares small fixed input shapes, one run on zeros. Neither may panic, hang or allocate past
//! libFuzzer's RSS limit: a graph that would is refused with an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quantscope_engine::{Data, Dim, Model, Value};

/// Inputs larger than this are not run (the run itself is what is fuzzed, not the input size).
const MAX_INPUT_ELEMENTS: usize = 1 << 12;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::from_onnx(data) else { return };
    let mut inputs = Vec::new();
    for io in model.inputs() {
        let (Some(dtype), Some(shape)) = (io.dtype, io.shape.as_ref()) else { return };
        let mut dims = Vec::with_capacity(shape.len());
        for d in shape {
            match d {
                Dim::Fixed(n) => dims.push(*n),
                Dim::Symbolic(_) => dims.push(1),
            }
        }
        let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        match n {
            Some(n) if n <= MAX_INPUT_ELEMENTS => inputs.push((io.name.clone(), Value::new(dims, Data::zeros(dtype, n)))),
            _ => return,
        }
    }
    let named: Vec<(&str, Value)> = inputs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let _ = model.run(&named);
});

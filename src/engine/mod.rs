//! A small ONNX inference engine: FP32 and real integer (int8/int4 weights, 8-bit activations,
//! i32 accumulation) execution of the ops tiny models use.

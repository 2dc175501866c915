// The Run view: the built-in model and user models, FP32 against quantized.
export function mountRun() {}

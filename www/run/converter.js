// The converter module (www/pkg-convert: a model's float32 weights in FP16 or BF16, as
// onnxconverter_common's convert_float_to_float16 writes them), imported by the Run view's worker
// the first time such a file is asked for.
import { onDemand } from '../shared/on-demand.js';

export const converterModule = onDemand(new URL('../pkg-convert/quantscope.js', import.meta.url).href, 'converter');

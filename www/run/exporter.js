// The exporter module (www/pkg-export: ONNX Runtime's quantize_dynamic and llama.cpp's imatrix
// file writer), imported by the Run view's worker the first time a file is asked for.
import { onDemand } from '../shared/on-demand.js';

export const exporterModule = onDemand(new URL('../pkg-export/quantscope.js', import.meta.url).href, 'exporter');

// The static QDQ module (www/pkg-qdq: ONNX Runtime's quantize_static in QDQ format and its
// augmented calibration model), imported by the Run view's worker the first time such a file is
// asked for.
import { onDemand } from '../shared/on-demand.js';

export const qdqModule = onDemand(new URL('../pkg-qdq/quantscope.js', import.meta.url).href, 'static QDQ');

// The calibration module (www/pkg-calib: ONNX Runtime's Percentile, Entropy and Distribution
// calibration), imported beside it when one of those is chosen.
export const calibModule = onDemand(new URL('../pkg-calib/quantscope.js', import.meta.url).href, 'calibration');

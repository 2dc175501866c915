// The weight-only INT4 module (www/pkg-nbits: ONNX Runtime's MatMulNBitsQuantizer, RTN, as
// MatMulNBits or blocked int4 DequantizeLinear), imported by the Run view's worker the first time
// such a file is asked for.
import { onDemand } from '../shared/on-demand.js';

export const nbitsModule = onDemand(new URL('../pkg-nbits/quantscope.js', import.meta.url).href, 'weight-only INT4');

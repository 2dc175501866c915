// The Run view's worker: it owns the runner wasm module (www/pkg-run: the model engine, the
// built-in MNIST model and a user's own model). Started when the Run view is first shown, so
// the Inspect and Learn views never load it; a trap here leaves their tensors alone.
import init from '../pkg-run/quantscope.js';
import { runOps } from './ops.js';
import { serve } from '../worker-loop.js';

serve(init(), runOps);

// The Run view's worker: it owns the runner wasm module (www/pkg-run: the model engine and the
// built-in MNIST model; www/pkg-run-relaxed where the browser has relaxed SIMD, see runner.js)
// and, once a person drops their own model, the models module (www/pkg-models, imported by
// custom-ops.js). Started when the Run view is first shown, so
// the Inspect and Learn views never load it; a trap here leaves their tensors alone.
import init from './runner.js';
import { runOps } from './ops.js';
import { serve } from '../worker-loop.js';

serve(init(), runOps);

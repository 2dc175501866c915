// The workbench's worker: it owns the workbench wasm module (www/pkg) and every loaded tensor;
// the page only draws. Its operations are the Inspect view's (inspect/ops.js; llama.cpp's mixes
// in inspect/mix-ops.js, on the mixer module) and the Learn view's (learn/ops.js). The Run
// view's models live in another worker (run/worker.js). The protocol is worker-loop.js's.
import init, { Workspace, wasm_memory_bytes } from './pkg/quantscope.js';
import { inspectOps } from './inspect/ops.js';
import { learnOps } from './learn/ops.js';
import { mixOps } from './inspect/mix-ops.js';
import { serve } from './worker-loop.js';

const ready = init().then(() => new Workspace());
// For the bench (scripts/bench.mjs reads it through Playwright): bytes of wasm memory, which
// only grows, so after an operation it is that operation's high-water mark.
self.quantscopeMemory = async () => { await ready; return wasm_memory_bytes(); };

serve(ready, { ...inspectOps, ...mixOps, ...learnOps });

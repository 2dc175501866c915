// The request loop both workers run (worker.js for the workbench, run/worker.js for the Run
// view's engine). Protocol: the page posts {id, op, args}; the worker answers {id, type:
// 'progress', done, total}, then {id, type: 'result', value} or {id, type: 'error', message}.
// {op: 'cancel', target} stops a long request between two steps.
const cancelled = new Set();

export class Cancelled extends Error {}

// Let queued messages (a cancel) run, then check whether this request was cancelled. Long ops
// call it between two steps.
export async function checkpoint(id) {
  await new Promise((r) => setTimeout(r, 0));
  if (cancelled.has(id)) throw new Cancelled('cancelled');
}

// Answers requests with `ops[op](context, id, args)` once `ready` (a Promise of the context the
// ops take) resolves.
export function serve(ready, ops) {
  self.onmessage = async ({ data }) => {
    const { id, op, args } = data;
    if (op === 'cancel') {
      cancelled.add(data.target);
      return;
    }
    try {
      const context = await ready;
      if (!ops[op]) throw new Error(`unknown operation ${op}`);
      const value = await ops[op](context, id, args);
      self.postMessage({ id, type: 'result', value });
    } catch (err) {
      const message = err instanceof Cancelled ? 'cancelled' : String(err?.message ?? err);
      // A trap (e.g. memory exhausted) leaves the wasm instance unusable: say so, so the page
      // can start a fresh worker.
      const fatal = err instanceof WebAssembly.RuntimeError;
      self.postMessage({ id, type: 'error', message, cancelled: err instanceof Cancelled, fatal });
    } finally {
      cancelled.delete(id);
    }
  };
}

// The worker owns the wasm instance and every loaded tensor; the page only draws.
// Protocol: the page posts {id, op, args}; the worker answers {id, type: 'progress', done, total},
// then {id, type: 'result', value} or {id, type: 'error', message}. {op: 'cancel', target} stops
// a long request between two steps.
import init, { Workspace } from './pkg/quantscope.js';

const ready = init().then(() => new Workspace());
const cancelled = new Set();

class Cancelled extends Error {}

// Let queued messages (a cancel) run, then check whether this request was cancelled.
async function checkpoint(id) {
  await new Promise((r) => setTimeout(r, 0));
  if (cancelled.has(id)) throw new Cancelled('cancelled');
}

const ops = {
  load_file: (ws, _id, [name, bytes]) => ws.load_file(name, new Uint8Array(bytes)),
  add_sample: (ws, _id, [kind, rows, cols, seed]) => ws.add_sample(kind, rows, cols, seed),

  // Scheme by scheme, so progress can be shown and a cancel can land between two schemes.
  async compare(ws, id, [index, schemeIds, options]) {
    let tensor = null, histogram = null;
    const schemes = [];
    for (const [done, scheme] of schemeIds.entries()) {
      const r = ws.compare(index, [scheme], options);
      tensor = r.tensor;
      schemes.push(r.schemes[0]);
      histogram = r.histogram ?? histogram;
      if (schemeIds.length > 1) {
        self.postMessage({ id, type: 'progress', done: done + 1, total: schemeIds.length });
        await checkpoint(id);
      }
    }
    return { tensor, schemes, histogram };
  },
};

self.onmessage = async ({ data }) => {
  const { id, op, args } = data;
  if (op === 'cancel') {
    cancelled.add(data.target);
    return;
  }
  try {
    const ws = await ready;
    if (!ops[op]) throw new Error(`unknown operation ${op}`);
    const value = await ops[op](ws, id, args);
    self.postMessage({ id, type: 'result', value });
  } catch (err) {
    const message = err instanceof Cancelled ? 'cancelled' : String(err?.message ?? err);
    self.postMessage({ id, type: 'error', message, cancelled: err instanceof Cancelled });
  } finally {
    cancelled.delete(id);
  }
};

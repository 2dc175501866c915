// Requests to the Run view's worker (run/worker.js), which starts on the first one. A request
// that traps the wasm (a fatal error: most likely memory exhausted) replaces the worker; every
// model loaded in it is gone, so the panels that keep worker-side state reset with onRunRestart.
import { WorkerClient } from '../client.js';

let client = null;
const listeners = [];

export function onRunRestart(fn) {
  listeners.push(fn);
}

function checkFatal(err) {
  if (err?.fatal && client) {
    client.terminate();
    client = null;
    err.message += ' (the Run view restarted its worker)';
    for (const fn of listeners) fn();
  }
  throw err;
}

// The same surface as WorkerClient's `start` and `request`.
export const runWorker = {
  start(op, args, options) {
    client ??= new WorkerClient(new URL('./worker.js', import.meta.url));
    const job = client.start(op, args, options);
    return { promise: job.promise.catch(checkFatal), cancel: job.cancel };
  },
  request(op, args, options) {
    return this.start(op, args, options).promise;
  },
};

// A file written a piece at a time in the worker (a GGUF export, a llama.cpp mix), gathered into
// a Blob with progress in bytes and a cancel point after each piece; pieces are folded into the
// Blob every EXPORT_FOLD_BYTES (the browser may keep a Blob on disk), so no copy of the whole
// file stays in wasm memory. inspect/ops.js and inspect/mix-ops.js use it.
import { checkpoint } from '../worker-loop.js';

const EXPORT_FOLD_BYTES = 64 << 20;

// `next()` gives the next piece (a Uint8Array) or undefined at the end; `total` is the file's
// size; `abandon()` runs when a piece fails or the job is cancelled, before the error goes on.
export async function gatherPieces(id, next, total, abandon) {
  let blob = new Blob([]);
  let parts = [], pending = 0, written = 0;
  try {
    for (let piece = next(); piece !== undefined; piece = next()) {
      parts.push(piece);
      pending += piece.length;
      written += piece.length;
      if (pending >= EXPORT_FOLD_BYTES) {
        blob = new Blob([blob, ...parts]);
        parts = [];
        pending = 0;
      }
      self.postMessage({ id, type: 'progress', done: written, total });
      await checkpoint(id);
    }
  } catch (err) {
    abandon();
    throw err;
  }
  return new Blob([blob, ...parts], { type: 'application/octet-stream' });
}

// A file written a piece at a time in the worker (a GGUF export, a llama.cpp mix), gathered into
// a Blob with progress in bytes and a cancel point after each piece; pieces are folded into the
// Blob every EXPORT_FOLD_BYTES (the browser may keep a Blob on disk), so no copy of the whole
// file stays in wasm memory. inspect/ops.js and inspect/mix-ops.js use it.
import { checkpoint } from '../worker-loop.js';
import { startWorker } from './pool.js';

const EXPORT_FOLD_BYTES = 64 << 20;

// `next()` gives the next piece (a Uint8Array) or undefined at the end; `total` is the file's
// size; `abandon()` runs when a piece fails or the job is cancelled, before the error goes on.
export async function gatherPieces(id, next, total, abandon) {
  const file = fileOfPieces();
  try {
    for (let piece = next(); piece !== undefined; piece = next()) {
      file.add(piece);
      self.postMessage({ id, type: 'progress', done: file.written, total });
      await checkpoint(id);
    }
  } catch (err) {
    abandon();
    throw err;
  }
  return file.blob();
}

// Pieces appended in order, folded into a Blob every EXPORT_FOLD_BYTES.
function fileOfPieces() {
  let blob = new Blob([]);
  let parts = [], pending = 0;
  return {
    written: 0,
    add(piece) {
      parts.push(piece);
      pending += piece.length;
      this.written += piece.length;
      if (pending >= EXPORT_FOLD_BYTES) {
        blob = new Blob([blob, ...parts]);
        parts = [];
        pending = 0;
      }
    },
    blob: () => new Blob([blob, ...parts], { type: 'application/octet-stream' }),
  };
}

// The same file with its chunks encoded on `size` pool workers (pool.js). `nextWork()` gives the
// export's next piece as work (wasm_common's gguf_work: {ready} bytes, or a chunk {values, ...}
// that `encodeOp` of a pool worker turns into bytes) or undefined at the end. Pieces are written
// in the order nextWork gave them, so the file is byte for byte the one gatherPieces writes.
// At most AHEAD_PER_WORKER pieces per worker wait, encoded or being encoded, so memory stays a
// few chunks per worker; progress counts the bytes written in order. A cancel or a failed chunk
// stops every worker at once.
const AHEAD_PER_WORKER = 3;

export async function gatherPooled(id, nextWork, total, abandon, size, encodeOp) {
  const file = fileOfPieces();
  const workers = Array.from({ length: size }, startWorker);
  const idle = [...workers];
  const finished = new Map(); // piece number → bytes, until the pieces before it are written
  const inFlight = new Set();
  let given = 0, written = 0, ended = false, failure = null;
  const give = () => {
    while (!ended && !failure && idle.length && finished.size + inFlight.size < AHEAD_PER_WORKER * size) {
      const work = nextWork();
      if (work === undefined) {
        ended = true;
        break;
      }
      const k = given++;
      if (work.ready) {
        finished.set(k, work.ready);
        continue;
      }
      const worker = idle.pop();
      const encoding = worker.run(encodeOp, [work], [work.values.buffer])
        .then((bytes) => {
          if (bytes.length !== work.bytes) throw new Error(`${work.tensor}: a chunk encoded to ${bytes.length} bytes, not ${work.bytes}`);
          finished.set(k, bytes);
        })
        .catch((err) => { failure ??= err; })
        .finally(() => { inFlight.delete(encoding); idle.push(worker); });
      inFlight.add(encoding);
    }
  };
  try {
    for (;;) {
      give();
      if (failure) throw failure;
      for (let piece = finished.get(written); piece !== undefined; piece = finished.get(written)) {
        finished.delete(written++);
        file.add(piece);
      }
      self.postMessage({ id, type: 'progress', done: file.written, total });
      if (ended && written === given) break;
      if (inFlight.size) await Promise.race(inFlight);
      await checkpoint(id);
    }
  } catch (err) {
    abandon();
    throw err;
  } finally {
    for (const w of workers) w.terminate();
  }
  return file.blob();
}

// The importance matrix of a loaded model, for the built-in model's panel (mnist-ops.js) and a
// person's own (custom-ops.js): llama-imatrix's statistics gathered a batch at a time by the
// engine's ImportanceCollector (src/runner/src/importance.rs), and the file the exporter module
// writes from them.
import { checkpoint } from '../worker-loop.js';
import { exporterModule } from './exporter.js';

// Runs `batches` ({name: {shape, data}} each) through model `handle` of `engine`, reporting
// progress per batch to request `id` and stopping at Cancel; the statistics
// {batches, rows_per_batch, entries: [{weight, shape, sums, count, saved}]}.
export async function collectImportance(engine, handle, batches, id) {
  const collector = engine.importance_start(handle);
  try {
    for (const [i, batch] of batches.entries()) {
      engine.importance_add(collector, batch);
      self.postMessage({ id, type: 'progress', done: i + 1, total: batches.length });
      await checkpoint(id);
    }
    return collector.statistics();
  } finally {
    collector.free();
  }
}

// The imatrix.gguf llama-imatrix would write for `stats`, `dataset` as its imatrix.datasets.
export async function importanceFile(stats, dataset) {
  if (!stats) throw new Error('compute the importance matrix first');
  const saved = stats.entries.filter((e) => e.saved);
  const { imatrix_file } = await exporterModule();
  return imatrix_file(dataset, stats.batches, stats.rows_per_batch, saved.map((e) => e.weight),
    Uint32Array.from(saved, (e) => e.sums.length), Float64Array.from(saved, (e) => e.count),
    Float32Array.from(saved.flatMap((e) => e.sums)));
}

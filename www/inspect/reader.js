// The reader module (www/pkg-read, src/reader): .npz and ONNX files read whole for the
// workbench, which carries no zip, inflate or protobuf decoder (about 80 KB gzipped fewer for
// every visit). The Inspect worker imports it the first time such a file is opened; the tensors
// it reads go into the worker's Workspace (Workspace.open_read), an ONNX model's weight
// descriptions into the answer.
import { reader_module_reads } from '../pkg/quantscope.js';

let loading = null;

async function readerModule() {
  loading ??= import('../pkg-read/quantscope.js').then(async (m) => {
    await m.default();
    return m;
  });
  try {
    return await loading;
  } catch (err) {
    loading = null;
    throw new Error(`could not load the reader module: ${err?.message ?? err}`);
  }
}

// Opens `blob` (named `name`) in the Workspace: .npz and ONNX through the reader module, every
// other format by the workbench itself. Returns open_file's answer and, for an ONNX model, its
// weights (to be added to the finished file's info).
export async function openAny(ws, name, blob) {
  if (!reader_module_reads(name, blob)) return { opened: ws.open_file(name, blob), weights: null };
  const reader = await readerModule();
  const read = reader.read_file(name, blob);
  // The values are views of the reader module's memory: the workbench copies them at once.
  try {
    return { opened: ws.open_read(name, blob, read), weights: read.weights ?? null };
  } finally {
    reader.release();
  }
}

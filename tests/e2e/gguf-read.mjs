// A small GGUF v3 reader of the tests' own, for files the page saves and the fixtures they are
// held to (no code of the page's is trusted to read what the page wrote).

// GGUF v3 as llama-imatrix writes it: the metadata, and every F32 tensor's values.
export function readGguf(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8; // magic, version
  const u32 = () => { at += 4; return view.getUint32(at - 4, true); };
  const u64 = () => { at += 8; return Number(view.getBigUint64(at - 8, true)); };
  const str = () => { const n = u64(); at += n; return bytes.subarray(at - n, at).toString('utf8'); };
  const SIZES = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const value = (type) => {
    if (type === 8) return str();
    if (type === 9) { const t = u32(); return Array.from({ length: u64() }, () => value(t)); }
    const v = type === 4 ? view.getUint32(at, true) : null;
    at += SIZES[type];
    return v;
  };
  const [nTensors, nKv] = [u64(), u64()];
  const kv = {};
  for (let i = 0; i < nKv; i++) { const key = str(); kv[key] = value(u32()); }
  const infos = Array.from({ length: nTensors }, () => {
    const name = str();
    const ne = Array.from({ length: u32() }, u64);
    const type = u32();
    return { name, ne, type, offset: u64() };
  });
  const start = Math.ceil(at / 32) * 32;
  const shapes = {}, tensors = {};
  for (const t of infos) {
    shapes[t.name] = t.ne;
    const n = t.ne.reduce((a, b) => a * b, 1);
    if (t.type === 0) tensors[t.name] = Array.from({ length: n }, (_, i) => view.getFloat32(start + t.offset + 4 * i, true));
  }
  return { kv, shapes, tensors };
}

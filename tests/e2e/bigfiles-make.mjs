// Large weight files written to disk for the big-file end-to-end test and the bench
// (scripts/bench.mjs), without holding them in memory: each tensor's bytes are a small
// deterministic pattern written over and over.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

// A deterministic pseudo-random stream (xorshift32): next() in [0, 1), normal() roughly N(0, 0.05²).
export function rng(seed) {
  let s = seed >>> 0;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
  return { next, normal: () => (next() + next() + next() + next() - 2) * 0.05 };
}

export const toBf16 = (f32) => {
  const u = new Uint32Array(new Float32Array([f32]).buffer)[0];
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16; // round to nearest even (finite values)
};
export const fromBf16 = (h) => new Float32Array(new Uint32Array([h << 16]).buffer)[0];

async function writer(path) {
  const out = createWriteStream(path);
  let written = 0;
  const write = async (buf) => { written += buf.length; if (!out.write(buf)) await once(out, 'drain'); };
  // `bytes` bytes of `pattern` repeated (cut at the end).
  const repeat = async (pattern, bytes) => {
    for (let left = bytes; left > 0; left -= pattern.length) await write(left >= pattern.length ? pattern : pattern.subarray(0, left));
  };
  const close = async () => { out.end(); await once(out, 'finish'); return written; };
  return { write, repeat, close, written: () => written };
}

// A safetensors file of `tensors`: [{name, dtype, shape, bytes, pattern: Buffer}]. Returns its size.
export async function writeSafetensors(path, tensors, metadata = { format: 'pt' }) {
  let offset = 0;
  const header = { __metadata__: metadata };
  for (const t of tensors) header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, (offset += t.bytes)] };
  const json = Buffer.from(JSON.stringify(header));
  const w = await writer(path);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  await w.write(len);
  await w.write(json);
  for (const t of tensors) await w.repeat(t.pattern, t.bytes);
  return w.close();
}

// ggml types the bench writes: id, values per block, bytes per block.
export const GGML = { f32: [0, 1, 4], q8_0: [8, 32, 34], q4_k: [12, 256, 144] };

// A GGUF v3 file (alignment 32) of `tensors`: [{name, shape (numpy order), type: 'f32'|'q8_0'|'q4_k',
// pattern: Buffer of whole blocks}], with general.architecture and general.name. Returns its size.
export async function writeGguf(path, tensors, name = 'bench') {
  const str = (s) => { const b = Buffer.from(s); const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(b.length)); return Buffer.concat([l, b]); };
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  const kvs = [Buffer.concat([str('general.architecture'), u32(8), str('llama')]), Buffer.concat([str('general.name'), u32(8), str(name)])];
  const pad = (n) => Math.ceil(n / 32) * 32;
  let offset = 0;
  const infos = [];
  for (const t of tensors) {
    const [id, block, size] = GGML[t.type];
    t.bytes = (t.shape.reduce((a, b) => a * b, 1) / block) * size;
    infos.push(Buffer.concat([str(t.name), u32(t.shape.length), ...[...t.shape].reverse().map(u64), u32(id), u64(offset)]));
    offset += pad(t.bytes);
  }
  let head = Buffer.concat([Buffer.from('GGUF'), u32(3), u64(tensors.length), u64(kvs.length), ...kvs, ...infos]);
  head = Buffer.concat([head, Buffer.alloc(pad(head.length) - head.length)]);
  const w = await writer(path);
  await w.write(head);
  for (const t of tensors) {
    await w.repeat(t.pattern, t.bytes);
    await w.write(Buffer.alloc(pad(t.bytes) - t.bytes));
  }
  return w.close();
}

// Whole blocks of a ggml type with sane scales (f16 d = 2^-10, dmin = 2^-12) and random codes.
export function blockPattern(type, blocks, seed = 1) {
  const r = rng(seed);
  const [, , size] = GGML[type];
  const b = Buffer.alloc(blocks * size);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r.next() * 256);
  for (let k = 0; k < blocks; k++) {
    if (type === 'q8_0') b.writeUInt16LE(0x1400, k * size);
    if (type === 'q4_k') { b.writeUInt16LE(0x1400, k * size); b.writeUInt16LE(0x0c00, k * size + 2); }
  }
  return b;
}

// The e2e test's file: small F32 [64, 1024], embed BF16 [rows, 1024] (a repeated 8 MiB
// pattern), norm F32 [1024]. Returns the embed's exact min/max/mean/std and value count.
export async function writeBigSafetensors(path, rows) {
  const r = rng(7);
  const small = new Float32Array(64 * 1024).map(r.normal);
  const norm = new Float32Array(1024).map(() => 1 + r.normal());
  const pattern = new Uint16Array(4 << 20).map(() => toBf16(r.normal() * 4));
  const values = rows * 1024;
  await writeSafetensors(path, [
    { name: 'a.small', dtype: 'F32', shape: [64, 1024], bytes: small.byteLength, pattern: Buffer.from(small.buffer) },
    { name: 'b.embed', dtype: 'BF16', shape: [rows, 1024], bytes: values * 2, pattern: Buffer.from(pattern.buffer) },
    { name: 'c.norm', dtype: 'F32', shape: [1024], bytes: norm.byteLength, pattern: Buffer.from(norm.buffer) },
  ]);
  // The embed's statistics, from the pattern and how many times each element occurs.
  let min = Infinity, max = -Infinity, sum = 0, sq = 0;
  const full = Math.floor(values / pattern.length), rest = values % pattern.length;
  for (let i = 0; i < pattern.length; i++) {
    const v = fromBf16(pattern[i]), n = full + (i < rest ? 1 : 0);
    if (n) { min = Math.min(min, v); max = Math.max(max, v); sum += n * v; sq += n * v * v; }
  }
  const mean = sum / values;
  return { min, max, mean, std: Math.sqrt(sq / values - mean * mean), values };
}

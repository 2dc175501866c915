// A run's weights as NumPy's .npz, so they leave the page in the format every Python tool reads:
// `np.load(file)["layer1.weight"]` is the first layer's float32 [out, in] matrix, torch's
// nn.Linear layout, so `torch.from_numpy` drops it into `nn.Linear.weight`, and Inspect opens the
// file too. The .npy format is NumPy's `numpy/lib/format.py` (version 1.0: the magic, the
// version, a little-endian u16 header length, and a header dict padded with spaces to a multiple
// of 64 bytes ending in a newline); the .npz is a zip of one `<name>.npy` per array, stored.
import { zipSync } from '../../node_modules/fflate/esm/browser.js';

// One float32 C-order .npy of `shape` holding `data` (a Float32Array of the shape's length).
export function npyFloat32(shape, data) {
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`${data.length} values for shape [${shape.join(', ')}]`);
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.length * 4);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]); // \x93NUMPY, version 1.0
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  // Float32Array is the platform's byte order, little-endian in every browser quantscope runs in.
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.length * 4), 10 + header.length);
  return out;
}

// The MLP of layer `sizes` ([784, ...hidden, 10]) from the trainer's flat parameters (each
// layer's weight [out, in] then its bias, layer by layer: quantscope_train::convert::params) as a
// .npz of `layer<i>.weight` and `layer<i>.bias`, i from 1.
export function weightsNpz(sizes, params) {
  const want = sizes.slice(1).reduce((n, out, i) => n + out * sizes[i] + out, 0);
  if (params.length !== want) throw new Error(`${params.length} parameters, but 784-${sizes.slice(1, -1).join('-')}-10 has ${want}`);
  const files = {};
  let at = 0;
  for (let i = 1; i < sizes.length; i++) {
    const [fanIn, out] = [sizes[i - 1], sizes[i]];
    files[`layer${i}.weight.npy`] = npyFloat32([out, fanIn], params.subarray(at, at + out * fanIn));
    at += out * fanIn;
    files[`layer${i}.bias.npy`] = npyFloat32([out], params.subarray(at, at + out));
    at += out;
  }
  return zipSync(files, { level: 0 });
}

// The Train view's conv net (src/train/src/conv.rs, ConvNet::digits) from the trainer's flat
// parameters (each Conv2d's and the Linear's weight then bias, in torch's parameters() order) as a
// .npz named as the state_dict of torch's nn.Sequential(Conv2d(1, 8, 5), ReLU(), MaxPool2d(2),
// Conv2d(8, 16, 5), ReLU(), MaxPool2d(2), Flatten(), Linear(256, 10)): `0.weight` [8, 1, 5, 5],
// `0.bias`, `3.weight` [16, 8, 5, 5], `3.bias`, `7.weight` [10, 256], `7.bias`, so
// `net.load_state_dict({k: torch.from_numpy(v) for k, v in np.load(f).items()})` takes it.
export const CONV_TENSORS = [['0.weight', [8, 1, 5, 5]], ['0.bias', [8]], ['3.weight', [16, 8, 5, 5]], ['3.bias', [16]],
  ['7.weight', [10, 256]], ['7.bias', [10]]];

export function convWeightsNpz(params) {
  const want = CONV_TENSORS.reduce((n, [, shape]) => n + shape.reduce((a, b) => a * b, 1), 0);
  if (params.length !== want) throw new Error(`${params.length} parameters, but the conv net has ${want}`);
  const files = {};
  let at = 0;
  for (const [name, shape] of CONV_TENSORS) {
    const count = shape.reduce((a, b) => a * b, 1);
    files[`${name}.npy`] = npyFloat32(shape, params.subarray(at, at + count));
    at += count;
  }
  return zipSync(files, { level: 0 });
}

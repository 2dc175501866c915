// A minimal ONNX writer for the end-to-end tests: models of a few float32 nodes, with float32
// initializers if asked, encoded as protobuf by hand (field numbers from onnx/onnx.proto).
const varint = (n) => { const out = []; do { let b = n & 0x7f; n = Math.floor(n / 128); if (n) b |= 0x80; out.push(b); } while (n); return out; };
const field = (num, wire, bytes) => [...varint((num << 3) | wire), ...(wire === 2 ? varint(bytes.length) : []), ...bytes];
const str = (num, s) => field(num, 2, [...Buffer.from(s, 'utf8')]);
const int = (num, n) => field(num, 0, varint(n));
const msg = (num, bytes) => field(num, 2, bytes);

// shape: numbers (fixed) and strings (named, or '?' for unnamed).
const dim = (d) => msg(1, typeof d === 'number' ? int(1, d) : d === '?' ? [] : str(2, d));
const tensorType = (shape) => msg(1, [...int(1, 1), ...msg(2, shape.flatMap(dim))]);
const valueInfo = (num, name, shape) => msg(num, [...str(1, name), ...msg(2, tensorType(shape))]);

// TensorProto: dims (1), data_type (2: FLOAT = 1), name (8), raw_data (9, little-endian).
const tensor = ({ name, dims, data }) =>
  msg(5, [...dims.flatMap((d) => int(1, d)), ...int(2, 1), ...str(8, name), ...field(9, 2, new Uint8Array(Float32Array.from(data).buffer))]);

// nodes: [{op, name, inputs, outputs}]; inputs/outputs: [{name, shape}]; initializers:
// [{name, dims, data: float32 values}].
export function onnxModel({ nodes, inputs, outputs, initializers = [], opset = 17 }) {
  const graph = [
    ...nodes.flatMap((n) => msg(1, [...n.inputs.flatMap((i) => str(1, i)), ...n.outputs.flatMap((o) => str(2, o)), ...str(3, n.name), ...str(4, n.op)])),
    ...str(2, 'g'),
    ...initializers.flatMap(tensor),
    ...inputs.flatMap((v) => valueInfo(11, v.name, v.shape)),
    ...outputs.flatMap((v) => valueInfo(12, v.name, v.shape)),
  ];
  return Uint8Array.from([...int(1, 8), ...msg(7, graph), ...msg(8, [...str(1, ''), ...int(2, opset)])]);
}

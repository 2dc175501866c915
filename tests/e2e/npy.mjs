// A float32 .npy file of `values` shaped `shape` (1-D by default), as numpy.save writes it
// (format version 1.0, the header padded to a multiple of 64 bytes), for tests that drop
// arrays into the page.
export function npy(values, shape = [values.length]) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const bytes = new Uint8Array(10 + header.length + 4 * values.length);
  bytes.set([0x93, ...Buffer.from('NUMPY'), 1, 0, header.length & 255, header.length >> 8]);
  bytes.set(Buffer.from(header, 'latin1'), 10);
  bytes.set(new Uint8Array(Float32Array.from(values).buffer), 10 + header.length);
  return bytes;
}

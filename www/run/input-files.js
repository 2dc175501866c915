// A person's own model's inputs from the files they drop beside it: .npy arrays, .npz archives of
// them (numpy.savez / savez_compressed) and images, read into the inputs input-plan.js assigns
// them — images resized and normalised with the settings the page shows. The page lists an
// archive's members (`arraysOf`); the worker reads the values (`resolveGiven`).
import { unzipSync } from '../../node_modules/fflate/esm/browser.js';
import { imageLayout, planInputs } from './input-plan.js';

// Zip-bomb guards, as the Rust .npz reader's (src/formats/src/npz.rs): checked on the archive's
// declared sizes before anything is inflated.
const MAX_MEMBER_BYTES = 1 << 30;
const MAX_RATIO = 1000;
const RATIO_CHECK_ABOVE = 1 << 20;

// The arrays a data file holds: [{label, stem, bytes}] (bytes only when `withBytes`: the page
// lists an archive's members without inflating them).
export function arraysOf(file, bytes, withBytes) {
  if (/\.npy$/i.test(file)) return [{ label: file, stem: file.replace(/\.npy$/i, ''), bytes: withBytes ? new Uint8Array(bytes) : undefined }];
  const members = [];
  let inflated;
  try {
    inflated = unzipSync(new Uint8Array(bytes), {
      filter: (f) => {
        if (!f.name.endsWith('.npy')) return false;
        if (f.originalSize > MAX_MEMBER_BYTES || (f.originalSize > RATIO_CHECK_ABOVE && f.originalSize / Math.max(1, f.size) > MAX_RATIO)) {
          throw new Error(`member ${f.name} declares ${f.originalSize.toLocaleString('en-US')} bytes from ${f.size.toLocaleString('en-US')} compressed`);
        }
        members.push(f.name);
        return withBytes;
      },
    });
  } catch (err) {
    throw new Error(`${file}: not a .npz archive quantscope reads (${err.message ?? err})`);
  }
  if (!members.length) throw new Error(`${file}: the archive holds no .npy arrays`);
  return members.map((m) => {
    const stem = m.replace(/\.npy$/, '').split('/').pop();
    return { label: `${file} '${stem}'`, stem, bytes: withBytes ? inflated[m] : undefined };
  });
}

// One decoded image, resized to w × h (stretched, the browser's high-quality resampling) →
// RGBA bytes. Worker and page both have createImageBitmap and OffscreenCanvas.
async function pixels(file, bytes, w, h) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]), { resizeWidth: w, resizeHeight: h, resizeQuality: 'high' });
  } catch {
    throw new Error(`${file}: not an image the browser can decode`);
  }
  const ctx = new OffscreenCanvas(w, h).getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, w, h).data;
}

// The images as one input tensor: batch = the images, in the order dropped.
export async function imageTensor(images, io, size, settings) {
  const { layout, channels } = imageLayout(io);
  const [h, w] = size;
  const plane = h * w;
  const data = new Float32Array(images.length * channels * plane);
  const order = settings.order === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  for (const [n, { file, bytes }] of images.entries()) {
    const rgba = await pixels(file, bytes, w, h);
    const base = n * channels * plane;
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < channels; c++) {
        const v = channels === 1
          ? 0.299 * rgba[4 * p] + 0.587 * rgba[4 * p + 1] + 0.114 * rgba[4 * p + 2]
          : rgba[4 * p + order[c]];
        const x = (v * settings.scale - settings.mean[c]) / settings.std[c];
        data[base + (layout === 'NCHW' ? c * plane + p : p * channels + c)] = x;
      }
    }
  }
  const shape = layout === 'NCHW' ? [images.length, channels, h, w] : [images.length, h, w, channels];
  return { shape, data };
}

// The worker's side: `given` = {arrays: [{file, bytes}], images: [{file, bytes}], image: settings}
// → {inputs: {name: {shape, data}}, used: [{name, shape, source}]} for the inputs it gives;
// `readNpy` parses one .npy (the models module's read_npy_input), `sizes` are the page's shapes
// (an image input's open height and width).
export async function resolveGiven(model, given, sizes, readNpy) {
  const inputs = {}, used = [];
  if (!given) return { inputs, used };
  const arrays = given.arrays.flatMap(({ file, bytes }) => arraysOf(file, bytes, true));
  const plan = planInputs(model.inputs, arrays, given.images.length);
  for (const [name, k] of plan.arrays) {
    let t;
    try {
      t = readNpy(arrays[k].bytes);
    } catch (err) {
      throw new Error(`${arrays[k].label}: ${err.message ?? err}`);
    }
    inputs[name] = { shape: t.shape, data: t.data };
    used.push({ name, shape: t.shape, source: arrays[k].label });
  }
  if (plan.image) {
    const io = model.inputs.find((i) => i.name === plan.image);
    const { h, w } = imageLayout(io);
    const size = [h, w].map((axis) => (typeof io.shape[axis] === 'number' ? io.shape[axis] : sizes[io.name]?.[axis]));
    if (!size.every((d) => Number.isInteger(d) && d > 0 && d <= 8192)) {
      throw new Error(`the images: input '${io.name}' needs a height and width from 1 to 8192, not ${size.join(' × ')}`);
    }
    const t = await imageTensor(given.images, io, size, given.image);
    inputs[io.name] = t;
    const n = given.images.length;
    used.push({ name: io.name, shape: t.shape, source: `${n === 1 ? given.images[0].file : `${n} images`}, resized to ${size[1]} × ${size[0]}` });
  }
  return { inputs, used };
}

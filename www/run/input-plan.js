// Which input each file dropped beside a person's own model goes to, from names and shapes alone
// (no file is read here, so the page's first paint does not wait for a zip reader): an array to
// the input of its name (the .npy file's, or the .npz member's: `np.savez('x.npz', input=a,
// state=b)`), else to the first input still without values, in the model's order; images to the
// first image-shaped input left ([N, C, H, W] or [N, H, W, C], C 1 or 3), one image per batch
// row. input-files.js reads the files (in the worker, and an archive's member names in the page).

export const ARRAY_FILE = /\.(npy|npz)$/i;
export const IMAGE_FILE = /\.(png|jpe?g|webp|bmp|gif)$/i;

// Where an image goes in an input: its layout and channel count, or null when the input is not
// image-shaped (rank 4, float, a channel axis of 1 or 3 — or open — first or last).
export function imageLayout(io) {
  const s = io.shape;
  if (!s || s.length !== 4 || !/^float/.test(io.dtype ?? 'float32')) return null;
  const channels = (d) => (d === 1 || d === 3 ? d : typeof d === 'number' ? 0 : 3);
  if (channels(s[1]) && (typeof s[1] === 'number' || typeof s[3] !== 'number' || !channels(s[3]))) {
    return { layout: 'NCHW', channels: channels(s[1]), h: 2, w: 3 };
  }
  if (channels(s[3])) return { layout: 'NHWC', channels: channels(s[3]), h: 1, w: 2 };
  return null;
}

// Which input each array and the images go to: {arrays: Map(input name → array index), image:
// input name | null}; throws a message naming the file that fits nowhere.
export function planInputs(inputs, arrays, imageCount) {
  const given = new Map();
  const unnamed = [];
  arrays.forEach((a, k) => {
    const io = inputs.find((i) => i.name === a.stem);
    if (io && !given.has(io.name)) given.set(io.name, k);
    else unnamed.push(k);
  });
  let image = null;
  if (imageCount) {
    image = inputs.find((io) => !given.has(io.name) && imageLayout(io))?.name ?? null;
    if (!image) {
      throw new Error(`${imageCount === 1 ? 'the image' : `${imageCount} images`}: the model has no image-shaped input left for ` +
        `${imageCount === 1 ? 'it' : 'them'} (a float input [N, 3, H, W] or [N, H, W, 3], or with 1 channel)`);
    }
  }
  for (const k of unnamed) {
    const io = inputs.find((i) => !given.has(i.name) && i.name !== image);
    if (!io) {
      throw new Error(`${arrays[k].label}: every input of the model (${inputs.map((i) => `'${i.name}'`).join(', ')}) has values ` +
        'already; name the array after the input it is for');
    }
    given.set(io.name, k);
  }
  return { arrays: given, image };
}

// Pixel values → the input's: x = (pixel · scale − mean[c]) / std[c], in RGB or BGR order; one
// channel is the luminance (ITU-R 601-2, what PIL's convert('L') takes). The presets are the
// usual exporters' (torchvision's ImageNet statistics; YOLO's [0, 1]; PaddleOCR's recogniser's [−1, 1]).
export const IMAGE_PRESETS = {
  imagenet: { label: 'ImageNet mean/std (torchvision)', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  unit: { label: '0 to 1 (pixel / 255)', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
  symmetric: { label: '−1 to 1 ((pixel / 255 − 0.5) / 0.5)', scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  raw: { label: '0 to 255 (pixel as it is)', scale: 1, mean: [0, 0, 0], std: [1, 1, 1] },
};


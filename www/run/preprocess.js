// Turns a drawing into what the MNIST model was trained on, the way the MNIST digits were made
// (LeCun et al.: "normalized to fit in a 20x20 pixel box while preserving their aspect ratio …
// centered in a 28x28 image by computing the center of mass of the pixels"). In the shipped test
// digits the box's longer side is 20 pixels (median; 5th percentile 18) and the centre of mass
// sits at (14.0, 14.0) in pixel-index coordinates, so that is where a drawing goes.
//
// Pure functions on plain arrays, so they run in Node's test runner as well as in the page.

export const SIZE = 28;
const BOX = 20;
const CENTRE = 14;

// Ink intensity in [0, 1] per pixel (row-major, width × height) → Float32Array(784) in [0, 1],
// or null when there is no ink.
export function toMnist(ink, width, height, threshold = 0.02) {
  let top = height, left = width, bottom = -1, right = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > threshold) {
        if (y < top) top = y;
        if (y > bottom) bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  if (bottom < 0) return null;
  const boxW = right - left + 1, boxH = bottom - top + 1;
  // The longer side becomes 20 pixels; the aspect ratio is kept (a "1" stays thin).
  const scale = BOX / Math.max(boxW, boxH);
  const outW = Math.max(1, Math.round(boxW * scale)), outH = Math.max(1, Math.round(boxH * scale));
  const small = resampleArea(ink, width, left, top, boxW, boxH, outW, outH);

  // Centre of mass of the scaled digit, then the whole-pixel shift that puts it at (14, 14).
  let mass = 0, my = 0, mx = 0;
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const v = small[y * outW + x];
      mass += v; my += v * y; mx += v * x;
    }
  }
  const offY = Math.round(CENTRE - my / mass), offX = Math.round(CENTRE - mx / mass);
  const out = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < outH; y++) {
    const ty = y + offY;
    if (ty < 0 || ty >= SIZE) continue;
    for (let x = 0; x < outW; x++) {
      const tx = x + offX;
      if (tx >= 0 && tx < SIZE) out[ty * SIZE + tx] = Math.min(1, small[y * outW + x]);
    }
  }
  return out;
}

// Box-filter (area-average) resampling of the rectangle (left, top, w, h) of `src` to outW × outH:
// each output pixel is the mean of the source area it covers, fractional edges weighted by
// overlap. Separable: rows first, then columns.
export function resampleArea(src, srcWidth, left, top, w, h, outW, outH) {
  const wx = overlapWeights(w, outW), wy = overlapWeights(h, outH);
  const rows = new Float32Array(h * outW);
  for (let y = 0; y < h; y++) {
    const base = (top + y) * srcWidth + left;
    for (const [o, i, weight] of wx) rows[y * outW + o] += src[base + i] * weight;
  }
  const out = new Float32Array(outW * outH);
  for (const [o, i, weight] of wy) {
    for (let x = 0; x < outW; x++) out[o * outW + x] += rows[i * outW + x] * weight;
  }
  return out;
}

// [(output index, input index, weight)] for averaging n inputs into m outputs, weights of each
// output summing to 1.
function overlapWeights(n, m) {
  const step = n / m, triples = [];
  for (let o = 0; o < m; o++) {
    const a = o * step, b = (o + 1) * step;
    for (let i = Math.floor(a); i < Math.min(n, Math.ceil(b)); i++) {
      const overlap = Math.min(b, i + 1) - Math.max(a, i);
      if (overlap > 0) triples.push([o, i, overlap / step]);
    }
  }
  return triples;
}

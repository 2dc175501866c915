// The MNIST model's input and output, as the Run view's worker (run/mnist-ops.js) and the ORT
// bench (bench/bench-ort-worker.js) read them: 28×28 pixels in, ten probabilities out.
export const PIXELS = 784;
export const CLASSES = 10;

// The index of the largest of `values[start .. start + n)` (the first one on a tie).
export function argmax(values, start = 0, n = values.length) {
  let best = start;
  for (let i = start + 1; i < start + n; i++) if (values[i] > values[best]) best = i;
  return best - start;
}

// How many rows of `probs` (CLASSES per digit) pick `labels[offset + row]`.
export function countCorrect(probs, labels, offset = 0) {
  let correct = 0;
  for (let i = 0; i < probs.length / CLASSES; i++) if (argmax(probs, i * CLASSES, CLASSES) === labels[offset + i]) correct++;
  return correct;
}

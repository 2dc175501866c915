// How sure an accuracy measured on n test digits is. Pure functions, tested in Node
// (tests/e2e/run-stats.test.mjs).

// The two-sided 95 % normal quantile.
export const Z95 = 1.959963984540054;

// Wilson score interval of a proportion `correct / n` (Wilson 1927; it stays inside [0, 1] and
// keeps its coverage near 0 and 1, unlike p ± z·SE): [low, high].
export function wilson(correct, n, z = Z95) {
  if (!(n > 0)) return [0, 1];
  const p = correct / n, z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  // Exactly 0 (1) when no digit is wrong (right); rounding would leave 1e-17.
  return [correct === 0 ? 0 : centre - half, correct === n ? 1 : centre + half];
}

// Accuracy of A minus accuracy of B, measured on the same digits (`rightA[i]`, `rightB[i]`: 1
// when the variant gets digit i right). Paired: only the digits where they disagree count, so
// two variants that fail on the same digits differ by less noise than two independent samples.
// SE of the paired difference (b − c)/n, b = A alone right, c = B alone right:
// √(b + c − (b − c)²/n) / n. `distinguishable`: the 95 % interval excludes 0.
export function pairedDifference(rightA, rightB, z = Z95) {
  const n = rightA.length;
  let onlyA = 0, onlyB = 0;
  for (let i = 0; i < n; i++) {
    if (rightA[i] && !rightB[i]) onlyA++;
    else if (rightB[i] && !rightA[i]) onlyB++;
  }
  const difference = n ? (onlyA - onlyB) / n : 0;
  const se = n ? Math.sqrt(Math.max(0, onlyA + onlyB - ((onlyA - onlyB) ** 2) / n)) / n : 0;
  const halfWidth = z * se;
  return { difference, halfWidth, onlyA, onlyB, distinguishable: Math.abs(difference) > halfWidth };
}

// The median of a list of numbers (timings).
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

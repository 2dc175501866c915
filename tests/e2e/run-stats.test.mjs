// The Run view's accuracy statistics (www/run/stats.js), in Node: the Wilson interval and the
// paired difference of two variants measured on the same digits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wilson, pairedDifference, Z95 } from '../../www/run/stats.js';

test('the Wilson interval: its ends solve (p̂ − p)² = z²·p(1 − p)/n, and it stays in [0, 1]', () => {
  for (const [k, n] of [[1910, 2000], [1915, 2000], [845, 2000], [0, 50], [50, 50], [3, 10]]) {
    const p = k / n;
    const [lo, hi] = wilson(k, n);
    assert.ok(lo <= p && p <= hi && lo >= 0 && hi <= 1, `${k}/${n}: [${lo}, ${hi}]`);
    for (const end of [lo, hi]) {
      if (end === 0 || end === 1) continue;
      assert.ok(Math.abs((p - end) ** 2 - (Z95 * Z95 * end * (1 - end)) / n) < 1e-12, `${k}/${n}: ${end}`);
    }
  }
  // The example: 95.50 % on 2,000 digits is 94.50–96.32 %, about ±0.9 points.
  const [lo, hi] = wilson(1910, 2000);
  assert.equal((100 * lo).toFixed(2), '94.50');
  assert.equal((100 * hi).toFixed(2), '96.32');
});

test('a paired difference: only digits where the two disagree count', () => {
  const n = 2000;
  const a = new Uint8Array(n).fill(1), b = new Uint8Array(n).fill(1);
  // q4_k 95.50 % against q3_k 95.75 %: 90 and 85 digits wrong, 80 of them the same digits.
  for (let i = 0; i < 80; i++) a[i] = b[i] = 0;
  for (let i = 80; i < 90; i++) a[i] = 0;
  for (let i = 90; i < 95; i++) b[i] = 0;
  const d = pairedDifference(a, b);
  assert.equal(d.onlyA, 5);
  assert.equal(d.onlyB, 10);
  assert.ok(Math.abs(d.difference - (-0.0025)) < 1e-12);
  assert.ok(Math.abs(d.halfWidth - (Z95 * Math.sqrt(15 - 25 / n)) / n) < 1e-12);
  assert.equal(d.distinguishable, false, '5 against 10 digits is noise');
  // 40 digits that only B gets right is not.
  for (let i = 100; i < 140; i++) a[i] = 0;
  assert.equal(pairedDifference(a, b).distinguishable, true);
  // The same digits right: a difference of exactly zero.
  assert.deepEqual(pairedDifference(b, b), { difference: 0, halfWidth: 0, onlyA: 0, onlyB: 0, distinguishable: false });
});

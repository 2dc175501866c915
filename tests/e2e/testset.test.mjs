// The Run view's test-set unzipping (www/run/testset.js, run in the worker): the built-in
// .npz gives its three .npy members; a damaged file or a missing array is a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { zipSync } from 'fflate';
import { testSetMembers } from '../../www/run/testset.js';

const npz = new Uint8Array(await readFile(new URL('../../www/models/mnist_test.npz', import.meta.url)));
const isNpy = (bytes) => bytes instanceof Uint8Array && String.fromCharCode(...bytes.subarray(1, 6)) === 'NUMPY';

test('the built-in test set unzips into its images, labels and calibration arrays', () => {
  const [images, labels, calibration] = testSetMembers(npz);
  assert.ok(isNpy(images) && isNpy(labels) && isNpy(calibration));
  // uint8 [2000, 784] after a 128-byte header.
  assert.equal(images.length, 128 + 2000 * 784);
  assert.equal(labels.length, 128 + 2000);
});

test('a set without calibration digits is accepted; a truncated file or a missing array is an error', () => {
  const [images, labels] = testSetMembers(npz);
  const noCalibration = testSetMembers(zipSync({ 'images.npy': images, 'labels.npy': labels, 'notes.txt': new Uint8Array(3) }));
  assert.equal(noCalibration[2], undefined);
  assert.throws(() => testSetMembers(npz.subarray(0, 1000)), /the MNIST test set is not a readable \.npz/);
  assert.throws(() => testSetMembers(zipSync({ 'images.npy': images })), /it has no 'labels' array/);
  assert.throws(() => testSetMembers(new Uint8Array(0)), /not a readable \.npz/);
});

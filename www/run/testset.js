// The built-in test digits arrive as www/models/mnist_test.npz (a zip of .npy members, as the
// training script and the CLI use it). It is unzipped here with fflate, so the runner wasm
// module carries no zip reader (that reader was a sixth of the module); the runner parses the
// .npy members.
import { unzipSync } from '../../node_modules/fflate/esm/browser.js';

const MEMBERS = ['images', 'labels', 'calibration'];

// → the `mnist_test_set` export's arguments: [images, labels, calibration] .npy bytes
// (calibration undefined when the file has none).
export function testSetMembers(npz) {
  let files;
  try {
    files = unzipSync(npz, { filter: (f) => MEMBERS.some((m) => f.name === `${m}.npy`) });
  } catch (err) {
    throw new Error(`the MNIST test set is not a readable .npz: ${err.message ?? err}`);
  }
  for (const name of ['images', 'labels']) {
    if (!files[`${name}.npy`]) throw new Error(`the MNIST test set: it has no '${name}' array`);
  }
  return MEMBERS.map((m) => files[`${m}.npy`]);
}

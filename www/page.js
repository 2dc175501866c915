// The page (index.html's one module script): the view tabs, the workbench wasm module on this
// thread (its plots), the four views — Inspect (inspect/), Learn (learn/), Run a model (run/), Train (train/) —
// and the guided tour. Each view lives in its folder and is mounted from its view.js.
import init from './pkg/quantscope.js';
import { wireViews } from './views.js';
import { wireTour } from './tour.js';
import { connectInspect, mountInspect, showError, startInspect } from './inspect/view.js';
import { mountLearn } from './learn/view.js';
import { mountRun } from './run/view.js';
import { mountTrain } from './train/view.js';

async function main() {
  connectInspect();
  wireViews();
  await init();
  mountInspect();
  mountLearn();
  mountRun();
  mountTrain();
  wireTour();
  await startInspect();
}

main().catch((err) => showError(`quantscope failed to start: ${err.message}`));

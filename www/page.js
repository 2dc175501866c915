// The page (index.html's one module script): the view tabs, the plot wasm module on this thread
// (www/pkg-plot; the workbench module is the Inspect worker's, which sends the pickers' lists),
// the four views — Inspect (inspect/), Learn (learn/), Run a model (run/), Train (train/) — and
// the guided tour. Each view lives in its folder and is mounted from its view.js.
import init from './pkg-plot/quantscope.js';
import { app } from './app.js';
import { loadLists } from './inspect/lists.js';
import { wireViews } from './views.js';
import { wireTour } from './tour.js';
import { connectInspect, mountInspect, showError, startInspect } from './inspect/view.js';
import { mountLearn } from './learn/view.js';
import { mountRun } from './run/view.js';
import { mountTrain } from './train/view.js';

async function main() {
  connectInspect();
  wireViews();
  await Promise.all([init(), loadLists(app.client)]);
  mountInspect();
  mountLearn();
  mountRun();
  mountTrain();
  wireTour();
  await startInspect();
}

main().catch((err) => showError(`quantscope failed to start: ${err.message}`));

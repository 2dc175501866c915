// The Learn view: eight panels, one module each, every one with a `mount…()` that returns the
// handle this module drives them by:
//   formats.js      How numbers are stored (#learn-formats)
//   mapping.js      Scale and zero point (#learn-mapping)
//   clipping.js     Clipping and calibration (#learn-clipping)
//   granularity.js  Granularity, with a block's packed bytes (#learn-granularity)
//   memory.js       Memory: will the model fit? (#learn-memory)
//   compare.js      Compare schemes (#learn-compare)
//   mixes.js        llama.cpp's mixes on a model of a known shape (#learn-mixes)
//   ste.js          Fake quantization and the straight-through estimator, on a real QAT run (#learn-ste)
// common.js holds what they share; ops.js their worker operations. Panels 1–3 build their own
// markup and keep their own tensor choice; panels 4–6 fill index.html's markup for the tensor
// selected in the Inspect view. Every panel computes only while the Learn view is shown.
import { app } from '../app.js';
import { onParamsChanged } from '../urlstate.js';
import { learnVisible } from './common.js';
import { mountFormats } from './formats.js';
import { mountMapping } from './mapping.js';
import { mountClipping } from './clipping.js';
import { mountGranularity } from './granularity.js';
import { mountMemory } from './memory.js';
import { mountCompare } from './compare.js';
import { mountMixes } from './mixes.js';
import { mountSte } from './ste.js';

export function mountLearn() {
  mountTensorPanels();
  mountSelectionPanels();
  // Panel 8 needs no tensor and computes only when its Run is pressed.
  mountSte(document.getElementById('learn-ste'));
}

// Panels 1–3: each refreshes when it is dirty (a new tensor, a restarted worker).
function mountTensorPanels() {
  const formats = mountFormats(document.getElementById('learn-formats'));
  const mapping = mountMapping(document.getElementById('learn-mapping'));
  const clipping = mountClipping(document.getElementById('learn-clipping'));
  // Panel 7 needs no tensor: it plans a model of a known shape.
  const mixes = mountMixes(document.getElementById('learn-mixes'));
  const panels = [formats, mapping, clipping, mixes];
  const refresh = () => { if (learnVisible()) for (const p of panels) p.refresh(); };

  window.addEventListener('view-shown', refresh);
  app.on('tensor-selected', ({ index }) => {
    mapping.select(index);
    clipping.select(index);
    formats.tensorChanged();
    refresh();
  });
  app.on('tensors-changed', () => {
    mapping.tensorsChanged();
    clipping.tensorsChanged();
    if (!app.tensors.length) panels.forEach((p) => p.invalidate());
    refresh();
  });
  app.on('client-restarted', () => panels.forEach((p) => p.invalidate()));
  refresh();
}

// Panels 4–6: they follow the Inspect view's tensor and scheme, and the link's settings.
function mountSelectionPanels() {
  const granularity = mountGranularity();
  const memory = mountMemory();
  const compare = mountCompare();
  const refreshAll = () => {
    if (!learnVisible() || app.selected === null) return;
    granularity.refresh();
    memory.refresh();
    compare.refresh();
  };

  window.addEventListener('view-shown', (e) => { if (e.detail.view === 'learn') refreshAll(); });
  app.on('tensor-selected', () => {
    granularity.tensorSelected();
    compare.tensorSelected();
    memory.tensorSelected();
    refreshAll();
  });
  app.on('tensors-changed', () => { if (memory.followsModel()) refreshAll(); });
  app.on('client-restarted', () => {
    granularity.clientRestarted();
    compare.clientRestarted();
  });
  app.on('reports-changed', () => { if (learnVisible()) compare.redraw(); else compare.reportsArrivedHidden(); });
  app.on('scheme-selected', () => {
    if (!learnVisible()) return;
    compare.redraw();
    memory.schemeSelected();
  });
  // A link followed or edited in place: apply the settings it carries.
  onParamsChanged((params) => {
    granularity.paramsChanged(params);
    memory.paramsChanged(params);
    refreshAll();
  });
}

// Learn panel 6, compare schemes (#learn-compare): SQNR against bits per weight for every scheme
// (the Inspect view's comparison, app.reports) with the schemes no other beats, NF4's levels on
// the normal density, and the INT4, NF4 and FP4 grids over the tensor's histogram. The numbers
// come from the worker (learn/ops.js → src/learn/src/compare.rs); plotters draws the charts.
import { app } from '../app.js';
import { draw_sqnr_chart, learn_draw_grid_comparison, learn_draw_nf4_chart, learn_pareto_front } from '../pkg/quantscope.js';
import { $, showError } from '../shared/dom.js';
import { currentScheme, fmt, latestRequest, learnVisible, selectedTensor } from './common.js';

const compare = {
  nf4: null,
  gridsFor: null,
  request: latestRequest(),
};

function drawComparison() {
  const reports = app.reports ?? [];
  const t = selectedTensor();
  const canvas = $('#cmp-sqnr');
  if (!reports.length) {
    $('#cmp-status').textContent = t ? `Comparing every scheme on ${t.name}…` : 'Load a tensor to compare schemes.';
    return;
  }
  $('#cmp-status').textContent = `${reports.length} schemes on ${t?.name ?? 'the tensor'}; ${currentScheme()} is ringed in red.`;
  try {
    draw_sqnr_chart(canvas, reports, currentScheme());
    canvas.dataset.drawn = 'true';
    const front = learn_pareto_front(reports.map((r) => ({ scheme: r.scheme, bits_per_weight: r.bits_per_weight, sqnr_db: r.sqnr_db })));
    $('#cmp-front').replaceChildren(...front.map((p) => {
      const li = document.createElement('li');
      li.textContent = `${p.scheme} — ${fmt(p.bits_per_weight, { digits: 4 })} bits, ${fmt(p.sqnr_db, { nullText: '∞', digits: 3 })} dB`;
      return li;
    }));
  } catch (err) {
    showError($('#cmp-error'), err);
  }
}

async function drawNf4() {
  if (compare.nf4) return;
  try {
    compare.nf4 = await app.client.request('learn_nf4_chart', []);
    learn_draw_nf4_chart($('#cmp-nf4'), compare.nf4);
    $('#cmp-nf4').dataset.drawn = 'true';
    $('#cmp-nf4-table tbody').replaceChildren(...compare.nf4.levels.map((l) => {
      const tr = document.createElement('tr');
      for (const v of [String(l.code), fmt(l.value, { digits: 7 }), fmt(l.z, { digits: 4 }), fmt(l.quantile, { digits: 4 })]) tr.insertCell().textContent = v;
      return tr;
    }));
  } catch (err) {
    compare.nf4 = null;
    showError($('#cmp-error'), err);
  }
}

async function drawGrids() {
  const t = selectedTensor();
  if (!t || compare.gridsFor === t.index) return;
  try {
    const g = await compare.request('learn_grid_comparison', [t.index, 96]);
    compare.gridsFor = t.index;
    learn_draw_grid_comparison($('#cmp-grids'), g);
    $('#cmp-grids').dataset.drawn = 'true';
    $('#cmp-grid-table tbody').replaceChildren(...g.grids.map((x) => {
      const tr = document.createElement('tr');
      tr.dataset.grid = x.id;
      for (const v of [x.name, String(x.levels.length), x.formula, fmt(x.mse), fmt(x.sqnr_db, { nullText: '∞' })]) tr.insertCell().textContent = v;
      return tr;
    }));
    showError($('#cmp-error'), null);
  } catch (err) {
    showError($('#cmp-error'), err);
  }
}

async function refreshCompare() {
  if (!learnVisible()) return;
  drawComparison();
  await Promise.all([drawNf4(), drawGrids()]);
}

export function mountCompare() {
  return {
    refresh: refreshCompare,
    redraw: drawComparison,
    tensorSelected() { compare.gridsFor = null; },
    clientRestarted() {
      compare.gridsFor = null;
      compare.nf4 = null;
    },
  };
}

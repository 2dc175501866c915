// Learn panel 6, compare schemes (#learn-compare): SQNR against bits per weight for every scheme
// (the Inspect view's comparison, app.reports) with the schemes no other beats, NF4's levels on
// the normal density, and the INT4, NF4 and FP4 grids over the tensor's histogram. The numbers
// come from the worker (learn/ops.js → src/learn/src/compare.rs); plotters draws the charts.
import { app } from '../app.js';
import { draw_sqnr_chart } from '../pkg-plot/quantscope.js';
import { learn_draw_grid_comparison, learn_draw_nf4_chart, learn_pareto_front } from '../pkg-learn/quantscope.js';
import { tutorReady } from './module.js';
import { $, showError } from '../shared/dom.js';
import { currentScheme, errorText, fmt, latestRequest, learnVisible, markBusy, pct, selectedTensor, sqnrText } from './common.js';

const compare = {
  nf4: null,
  gridsFor: null,
  request: latestRequest(),
};

// A report's SQNR for the chart and the front: null is an exact round trip (+∞) only when
// the error is 0; a round trip that overflows (fp16 of 10⁵: MSE ∞) is −∞, never "∞ dB".
const sqnrOf = (r) => (r.sqnr_db === null && r.mse !== 0 ? -Infinity : r.sqnr_db);

// The previous tensor's chart and front go: they are not this tensor's.
function clearComparison() {
  const canvas = $('#cmp-sqnr');
  canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
  delete canvas.dataset.drawn;
  $('#cmp-front').replaceChildren();
  $('#cmp-status').textContent = '';
}

async function drawComparison() {
  const reports = app.reports ?? [];
  const t = selectedTensor();
  const canvas = $('#cmp-sqnr');
  if (!reports.length) {
    clearComparison();
    $('#cmp-status').textContent = t ? `Comparing every scheme on ${t.name}…` : 'Load a tensor to compare schemes.';
    markBusy([canvas, $('#cmp-front')], t ? `comparing every scheme on ${t.name}…` : null);
    return;
  }
  markBusy([canvas, $('#cmp-front')], null);
  $('#cmp-status').textContent = `${reports.length} schemes on ${t?.name ?? 'the tensor'}; ${currentScheme()} is ringed in red.`;
  try {
    await tutorReady();
    // Another tensor's comparison may have come (or gone) while the module loaded.
    if ((app.reports ?? []) !== reports) return;
    draw_sqnr_chart(canvas, reports, currentScheme());
    canvas.dataset.drawn = 'true';
    const front = learn_pareto_front(reports.map((r) => ({ scheme: r.scheme, bits_per_weight: r.bits_per_weight, sqnr_db: sqnrOf(r) })));
    $('#cmp-front').replaceChildren(...front.map((p) => {
      const li = document.createElement('li');
      li.dataset.scheme = p.scheme;
      li.textContent = `${p.scheme} — ${fmt(p.bits_per_weight, { digits: 5 })} bits, ${fmt(p.sqnr_db, { nullText: '∞', digits: 3 })} dB`;
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
    await tutorReady();
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

// The INT4, NF4 and FP4 grids on the tensor, and the fp4_e2m1 cast beside the scaled FP4 grid.
const gridResults = () => [$('#cmp-grids'), $('#cmp-grid-table'), $('#cmp-fp4-cast')];

function clearGrids() {
  const canvas = $('#cmp-grids');
  canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
  delete canvas.dataset.drawn;
  $('#cmp-grid-table tbody').replaceChildren();
  $('#cmp-fp4-cast').textContent = '';
}

async function drawGrids() {
  const t = selectedTensor();
  if (!t || compare.gridsFor === t.index) return;
  clearGrids();
  markBusy(gridResults(), `laying the grids over ${t.name}…`);
  try {
    const g = await compare.request('learn_grid_comparison', [t.index, 96]);
    compare.gridsFor = t.index;
    await tutorReady();
    learn_draw_grid_comparison($('#cmp-grids'), g);
    $('#cmp-grids').dataset.drawn = 'true';
    $('#cmp-grid-table tbody').replaceChildren(...g.grids.map((x) => {
      const tr = document.createElement('tr');
      tr.dataset.grid = x.id;
      for (const v of [x.name, String(x.levels.length), x.formula, errorText(x.mse), sqnrText(x.sqnr_db, x.mse)]) tr.insertCell().textContent = v;
      return tr;
    }));
    $('#cmp-fp4-cast').textContent = castText(g);
    markBusy(gridResults(), null);
    showError($('#cmp-error'), null);
  } catch (err) {
    if (!err.superseded) markBusy(gridResults(), null);
    showError($('#cmp-error'), err);
  }
}

// Why the Inspect view's fp4_e2m1 and the FP4 grid above differ on the same tensor.
function castText(g) {
  const cast = g.fp4_cast;
  const grid = g.grids.find((x) => x.id === 'fp4_e2m1');
  const db = (v, mse) => `${sqnrText(v, mse, (x) => fmt(x, { digits: 3 }))} dB`;
  return `The ${cast.scheme} scheme (the Inspect view's row) is a cast with no scale: the E2M1 levels ±{0, ½, 1, 1½, 2, 3, 4, 6} ` +
    `are used as they are, so every |x| ≤ ${fmt(cast.zero_below)} becomes 0. On this tensor that is ${pct(cast.zeroed_fraction)} of the values, ` +
    `and the cast's SQNR is ${db(cast.sqnr_db, cast.mse)} (MSE ${errorText(cast.mse)})${cast.sqnr_db === 0 ? ': the error is the whole signal' : ''}. ` +
    `The FP4 row above first divides by a scale, absmax / 6 = ${fmt(grid.scale, { digits: 4 })}, so the same 15 levels span the tensor: ` +
    `${db(grid.sqnr_db, grid.mse)}. mxfp4 (Granularity → stored as) keeps such a scale, a power of two, for every block of 32 values.`;
}

async function refreshCompare() {
  if (!learnVisible()) return;
  await Promise.all([drawComparison(), drawNf4(), drawGrids()]);
}

export function mountCompare() {
  return {
    refresh: refreshCompare,
    redraw: drawComparison,
    // The comparison arrived while the view is hidden: no "comparing…" line waits in it; the
    // chart is drawn when the view is shown.
    reportsArrivedHidden() { markBusy([$('#cmp-sqnr'), $('#cmp-front')], null); },
    // Another tensor: no grid of the old one stays, and its answer, if still coming, is dropped.
    tensorSelected() {
      compare.gridsFor = null;
      compare.request.supersede();
      clearGrids();
      clearComparison();
      // Shown: say what is coming (hidden, the view's refresh does when it is shown).
      if (learnVisible()) drawComparison();
    },
    clientRestarted() {
      compare.gridsFor = null;
      compare.nf4 = null;
    },
  };
}

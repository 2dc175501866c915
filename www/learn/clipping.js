// Learn panel 3, clipping and calibration (#learn-clipping): a clip c on a slider, the values it
// clamps, the MSE against c (computed a slice at a time) and what each calibration method picks.
// The numbers come from the worker (learn/ops.js → src/learn/src/clipping.rs).
import { app } from '../app.js';
import { showError } from '../shared/dom.js';
import { latest } from '../shared/latest.js';
import { defaultTensor, ensureSample, fillTensorSelect, h, latestRequest, markBusy, num, sqnrText, pct, redrawOnResize, s, scale, statList, svgWidth } from './common.js';

const STEPS = 1000;   // slider positions: c = max|x| · k / 1000
const POINTS = 120;   // points on the MSE curve
const SHORT = { 'min-max': 'min-max', 'percentile 99.9': 'p99.9', 'percentile 99.99': 'p99.99', 'MSE search': 'MSE', 'entropy (KL)': 'entropy' };

export function mountClipping(section) {
  const tensor = h('select', { 'aria-label': 'Tensor', 'data-role': 'tensor' });
  const bits = h('select', { 'aria-label': 'Bits', 'data-role': 'bits' }, new Option('INT8', '8'), new Option('INT4', '4'));
  const outliers = h('input', { type: 'checkbox', 'data-role': 'outliers' });
  const slider = h('input', { id: 'learn-clip', type: 'range', min: '1', max: String(STEPS), step: '1', value: String(STEPS) });
  const output = h('output', { for: 'learn-clip', 'data-stat': 'clip' });
  const error = h('p', { class: 'learn-error', role: 'alert', hidden: true });
  const stats = h('div', { class: 'clip-stats' });
  const histSvg = s('svg', { class: 'clip-hist', role: 'img' });
  const curveSvg = s('svg', { class: 'clip-curve', role: 'img' });
  const progress = h('progress', { max: '1', value: '0', hidden: true, 'aria-label': 'Computing the MSE curve' });
  const markers = h('div', { class: 'table-wrap' });
  const markersNote = h('p', { class: 'hint' });
  const verdict = h('p', { class: 'verdict', 'data-role': 'verdict' });
  const notes = h('div', { class: 'clip-notes', 'data-role': 'notes' });
  section.replaceChildren(
    h('h2', { id: 'learn-clipping-title', text: 'Clipping and calibration' }),
    h('p', { class: 'learn-lede', text: 'Quantizing over [−c, c] instead of the full ±max|x| makes the step c / q_max finer, so ' +
      'every value inside is rounded more precisely — but every value beyond ±c is clamped to ±c. The best c balances the two ' +
      'errors. Calibration methods choose c from the data: min-max takes max|x|, percentile the 99.9th or 99.99th percentile ' +
      'of |x|, MSE search the c with the lowest error, entropy the c whose histogram best keeps the original’s shape.' }),
    h('p', { class: 'learn-formula', html: 'scale = c / q<sub>max</sub> (q<sub>max</sub> = 127 for INT8, 7 for INT4) · ' +
      'x̂ = clamp(round(x / scale), −q<sub>max</sub>, q<sub>max</sub>) × scale · MSE(c) = mean over the tensor of (x − x̂)<sup>2</sup>' }),
    h('div', { class: 'learn-controls' },
      h('label', {}, 'Tensor ', tensor), h('label', {}, 'Bits ', bits),
      h('label', { class: 'switch' }, outliers, ' with outliers (sample normal_outliers instead of normal)')),
    h('div', { class: 'clip-slider' }, h('label', { for: 'learn-clip', text: 'clip c' }), slider, output),
    error, stats, histSvg, curveSvg, progress, verdict, markersNote, markers, notes);

  const state = { index: null, dirty: true, setup: null, curve: null, clip: null, point: null };
  const setupRequest = latestRequest();
  const curveGuard = latest();
  // Slider positions: one request at a time (the worker would otherwise queue a hundred), and
  // an answer for a position the slider has already left is dropped by the guard.
  const clipGuard = latest();
  let inFlight = false, pendingClip = null;
  // Everything that shows a number for the current tensor and bit width.
  const results = [output, stats, histSvg, curveSvg, verdict, markers, notes];

  async function refresh() {
    state.dirty = false;
    if (state.index === null || !app.tensors.some((t) => t.index === state.index)) state.index = defaultTensor();
    fillTensorSelect(tensor, state.index);
    syncToggle();
    if (state.index === null) return;
    const index = state.index, b = Number(bits.value);
    const t = app.tensors.find((x) => x.index === index);
    // A new tensor or bit width: no number of the old one stays as if it were the new one's.
    clipGuard.supersede();
    curveGuard.supersede();
    pendingClip = null;
    state.setup = null;
    state.point = null;
    state.curve = null;
    progress.hidden = true;
    markBusy(results, `computing int${b}_sym clips on ${t?.name ?? 'the tensor'}…`);
    for (const el of [stats, markers, notes]) el.replaceChildren();
    for (const el of [histSvg, curveSvg]) el.replaceChildren();
    output.textContent = '';
    verdict.textContent = '';
    markersNote.textContent = '';
    try {
      section.dataset.ready = 'false';
      const setup = await setupRequest('learn_clip_setup', [index, b, POINTS]);
      state.setup = { ...setup, index };
      state.curve = null;
      slider.value = String(STEPS);
      state.clip = setup.absmax;
      showError(error, null);
      renderMarkers();
      verdict.textContent = setup.verdict;
      notes.replaceChildren(...setup.notes.map((text) => h('p', { class: 'clip-note', text })));
      markBusy(results, null);
      drawHistogram();
      drawCurve();
      await clipAt(setup.absmax);
      computeCurve(index, b, setup);
    } catch (err) {
      if (!err.superseded) markBusy(results, null);
      showError(error, err);
    }
  }

  async function computeCurve(index, b, setup) {
    progress.hidden = false;
    progress.max = setup.clips.length;
    progress.value = 0;
    try {
      const curve = await curveGuard(app.client.request('learn_clip_curve', [index, b, setup.clips], {
        onProgress: (done) => { if (state.setup?.clips === setup.clips) progress.value = done; },
      }));
      if (state.setup?.clips !== setup.clips) return;
      state.curve = curve;
      drawCurve();
      section.dataset.ready = 'true';
    } catch (err) {
      // The worker cancels a curve a newer one replaced: that is not an error to show.
      if (state.setup?.clips === setup.clips && !err.cancelled) showError(error, err);
    } finally {
      if (state.setup?.clips === setup.clips) progress.hidden = true;
    }
  }

  // One request at a time; a slider that moves meanwhile sends only its last position.
  async function clipAt(clip) {
    state.clip = clip;
    if (inFlight) {
      // The answer on its way is for a position the slider has left.
      pendingClip = clip;
      clipGuard.supersede();
      return;
    }
    inFlight = true;
    const setup = state.setup;
    try {
      const point = await clipGuard(app.client.request('learn_clip_at', [setup.index, setup.bits, clip]));
      if (state.setup === setup) {
        state.point = point;
        renderPoint();
      }
    } catch (err) {
      showError(error, err);
    } finally {
      inFlight = false;
      if (pendingClip !== null) { const c = pendingClip; pendingClip = null; clipAt(c); }
    }
  }

  function renderPoint() {
    const p = state.point, setup = state.setup;
    output.textContent = `${num(p.clip, 4)} (${num((100 * p.clip) / setup.absmax, 3)} % of max|x|)`;
    output.dataset.value = p.clip;
    slider.setAttribute('aria-valuetext', `c = ${num(p.clip, 4)}, MSE ${num(p.mse, 4)}`);
    stats.replaceChildren(statList([
      ['max|x|', num(setup.absmax), 'absmax', setup.absmax],
      ['scale = c / q_max', num(p.scale), 'scale', p.scale],
      ['MSE at c', num(p.mse, 4), 'mse', p.mse],
      ['SQNR', `${sqnrText(p.sqnr_db, p.mse, (v) => num(v, 4))} dB`, 'sqnr', p.sqnr_db],
      ['clamped', pct(p.clipped_fraction), 'clipped', p.clipped_fraction],
    ]));
    drawHistogram();
    drawCurve();
  }

  function renderMarkers() {
    const setup = state.setup;
    markersNote.textContent = `What each calibration picks for int${setup.bits}_sym on this tensor; press a method to move the slider to its clip.`;
    markers.replaceChildren(h('table', { class: 'learn-table markers' },
      h('thead', {}, h('tr', {}, ...['method', 'scheme', 'clip c', 'of max|x|', 'MSE', 'clamped'].map((c, i) => h('th', { scope: 'col', text: c, class: i < 2 ? 'text' : null })))),
      h('tbody', {}, ...setup.markers.map((m) => h('tr', { 'data-method': SHORT[m.method] },
        h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => {
          slider.value = String(Math.max(1, Math.round((m.clip / setup.absmax) * STEPS)));
          clipAt(m.clip);
        } }, m.method)),
        h('td', {}, h('code', { text: m.scheme })),
        h('td', { text: num(m.clip, 4) }),
        h('td', { text: `${num((100 * m.clip) / setup.absmax, 3)} %` }),
        h('td', { 'data-stat': 'mse', 'data-value': m.mse, text: num(m.mse, 4) }),
        h('td', { text: pct(m.clipped_fraction) }))))));
  }

  function drawHistogram() {
    const setup = state.setup;
    if (!setup) return;
    const W = svgWidth(histSvg), H = 150, L = 48, R = 14, base = 118;
    histSvg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    const hist = setup.histogram;
    const x = scale(hist.lo, hist.hi, L, W - R);
    const most = Math.max(1, ...hist.counts);
    const bw = (hist.hi - hist.lo) / hist.counts.length;
    const c = state.clip ?? setup.absmax;
    const parts = [
      s('rect', { class: 'clamped-zone', x: L, y: 8, width: Math.max(0, x(-c) - L), height: base - 8 }),
      s('rect', { class: 'clamped-zone', x: x(c), y: 8, width: Math.max(0, W - R - x(c)), height: base - 8 }),
    ];
    hist.counts.forEach((n, i) => {
      if (!n) return;
      const ht = 3 + (Math.log1p(n) / Math.log1p(most)) * (base - 14);
      const x0 = hist.lo + i * bw;
      parts.push(s('rect', { class: Math.abs(x0 + bw / 2) > c ? 'bar out' : 'bar', x: x(x0), y: base - ht, width: Math.max(1, x(x0 + bw) - x(x0) - 0.5), height: ht }));
    });
    parts.push(
      s('line', { class: 'axis', x1: L, x2: W - R, y1: base + 0.5, y2: base + 0.5 }),
      s('line', { class: 'clip-line', x1: x(-c), x2: x(-c), y1: 6, y2: base }),
      s('line', { class: 'clip-line', x1: x(c), x2: x(c), y1: 6, y2: base }),
      s('text', { class: 'tick', x: L, y: H - 14 }, num(hist.lo, 3)),
      s('text', { class: 'tick', x: x(0), y: H - 14, 'text-anchor': 'middle' }, '0'),
      s('text', { class: 'tick', x: W - R, y: H - 14, 'text-anchor': 'end' }, num(hist.hi, 3)),
      s('text', { class: 'tick', x: 4, y: 16 }, 'count'),
      s('text', { class: 'tick', x: 4, y: 28 }, '(log)'),
      s('text', { class: 'tick clip-label', x: x(c), y: H - 2, 'text-anchor': 'middle' }, '+c'),
      s('text', { class: 'tick clip-label', x: x(-c), y: H - 2, 'text-anchor': 'middle' }, '−c'));
    histSvg.setAttribute('aria-label', `Histogram of the tensor over ±${num(setup.absmax, 3)}; values beyond ±${num(c, 3)} are clamped`);
    histSvg.replaceChildren(...parts);
  }

  function drawCurve() {
    const setup = state.setup;
    if (!setup) return;
    const W = svgWidth(curveSvg), H = 250, L = 52, R = 16, T = 14, B = 210;
    curveSvg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    const values = [...setup.markers.map((m) => m.mse), ...(state.curve ?? []).map((p) => p.mse), state.point?.mse]
      .filter((v) => v > 0 && Number.isFinite(v));
    if (!values.length) { curveSvg.replaceChildren(); return; }
    const lo = Math.floor(Math.log10(Math.min(...values)) * 4) / 4, hi = Math.ceil(Math.log10(Math.max(...values)) * 4) / 4 || lo + 1;
    const x = scale(0, setup.absmax, L, W - R);
    const y = (mse) => scale(lo, hi === lo ? lo + 1 : hi, B, T)(Math.log10(Math.max(mse, 10 ** lo)));
    const parts = [s('line', { class: 'axis', x1: L, x2: W - R, y1: B + 0.5, y2: B + 0.5 }), s('line', { class: 'axis', x1: L - 0.5, x2: L - 0.5, y1: T, y2: B })];
    // Decades, and 2× and 5× between them when the curve spans less than two decades.
    const ticks = [];
    for (let d = Math.floor(lo); d <= Math.ceil(hi); d++) {
      for (const m of hi - lo < 2 ? [1, 2, 5] : [1]) {
        const v = m * 10 ** d;
        if (Math.log10(v) >= lo - 1e-9 && Math.log10(v) <= hi + 1e-9) ticks.push(v);
      }
    }
    for (const v of ticks) {
      parts.push(s('line', { class: 'gridline', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      parts.push(s('text', { class: 'tick', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, num(v, 2)));
    }
    parts.push(s('text', { class: 'tick', x: L, y: H - 18 }, '0'),
      s('text', { class: 'tick', x: W - R, y: H - 18, 'text-anchor': 'end' }, `max|x| = ${num(setup.absmax, 3)}`),
      s('text', { class: 'tick', x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle' }, 'clip c'),
      s('text', { class: 'tick', x: 4, y: T + 4 }, 'MSE'));
    if (state.curve) {
      parts.push(s('polyline', { class: 'curve', points: state.curve.map((p) => `${x(p.clip).toFixed(1)},${y(p.mse).toFixed(1)}`).join(' ') }));
    } else {
      parts.push(s('text', { class: 'tick', x: (L + W - R) / 2, y: (T + B) / 2, 'text-anchor': 'middle' }, 'computing the curve…'));
    }
    // Markers; labels staggered so methods with nearly equal clips stay readable.
    const placed = [];
    for (const m of setup.markers) {
      const mx = x(m.clip), my = y(m.mse);
      let ly = my - 10;
      while (placed.some((p) => Math.abs(p.x - mx) < 60 && Math.abs(p.y - ly) < 13)) ly -= 13;
      if (ly < T + 4) ly = my + 20;
      placed.push({ x: mx, y: ly });
      if (Math.abs(ly - my) > 14) parts.push(s('line', { class: 'leader', x1: mx, x2: mx, y1: ly + 3, y2: my + (ly < my ? -5 : 5) }));
      parts.push(s('circle', { class: 'marker', cx: mx, cy: my, r: 4, 'data-method': SHORT[m.method] }, undefined),
        s('text', { class: 'marker-label', x: mx, y: ly, 'text-anchor': mx > W - 80 ? 'end' : 'middle' }, SHORT[m.method]));
    }
    if (state.point) {
      const px = x(state.point.clip);
      parts.push(s('line', { class: 'clip-line', x1: px, x2: px, y1: T, y2: B }),
        s('circle', { class: 'current', cx: px, cy: y(state.point.mse), r: 5 }));
    }
    curveSvg.setAttribute('aria-label', `MSE against the clip c for int${setup.bits}_sym, log scale, with the calibration methods marked`);
    curveSvg.replaceChildren(...parts);
  }

  redrawOnResize(histSvg, drawHistogram);
  redrawOnResize(curveSvg, drawCurve);

  function syncToggle() {
    const t = app.tensors.find((x) => x.index === state.index);
    outliers.checked = t?.name === 'sample:normal_outliers';
  }

  slider.addEventListener('input', () => {
    if (!state.setup) return;
    clipAt((state.setup.absmax * Number(slider.value)) / STEPS);
  });
  tensor.addEventListener('change', () => { state.index = Number(tensor.value); refresh(); });
  bits.addEventListener('change', refresh);
  outliers.addEventListener('change', async () => {
    try {
      outliers.disabled = true;
      state.index = await ensureSample(outliers.checked ? 'normal_outliers' : 'normal');
      await refresh();
    } catch (err) {
      showError(error, err);
    } finally {
      outliers.disabled = false;
    }
  });

  return {
    refresh: () => (state.dirty ? refresh() : Promise.resolve()),
    invalidate() { state.dirty = true; },
    select(index) { state.index = index; state.dirty = true; },
    tensorsChanged() { fillTensorSelect(tensor, state.index ?? defaultTensor()); syncToggle(); },
  };
}

// Learn panel 1, how numbers are stored (#learn-formats): a typed number (or one picked from the
// tensor's histogram) in every float format, bit by bit, with bits to flip; the formats' ranges
// and the integer types. The numbers come from the worker (learn/ops.js → src/learn/src/number_formats.rs).
import { app } from '../app.js';
import { showError } from '../shared/dom.js';
import { latest } from '../shared/latest.js';
import { defaultTensor, h, latestRequest, learnVisible, markBusy, num, redrawOnResize, s, scale, svgWidth } from './common.js';

// Rust's formula text with its powers as superscripts: 2^(11 − 15) → 2<sup>11 − 15</sup>.
function formulaHtml(text) {
  const escaped = text.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' }[c]));
  return escaped.replace(/\^\(([^)]*)\)/g, '<sup>$1</sup>').replace(/\^(\d+)/g, '<sup>$1</sup>');
}

// The colour key of the bit rows: each field's swatch is a bit drawn as the rows draw it.
function bitKey() {
  return h('p', { class: 'bit-key', id: 'learn-bit-key' }, h('span', { class: 'hint', text: 'Bits:' }),
    ...[['sign', 'sign'], ['exponent', 'exponent'], ['mantissa', 'mantissa (fraction)']].map(([field, label]) =>
      h('span', { class: 'key', 'data-field': field },
        h('span', { class: `bit swatch ${field}`, 'aria-hidden': 'true' }, '1'), label)),
    h('span', { class: 'hint', text: 'a filled bit is 1; press one to flip it.' }));
}

export function mountFormats(section) {
  const input = h('input', { id: 'learn-number', type: 'text', inputmode: 'decimal', value: '0.1', autocomplete: 'off', spellcheck: 'false' });
  const error = h('p', { class: 'learn-error', role: 'alert', hidden: true });
  const pickSvg = s('svg', { class: 'pick-hist', role: 'group', 'aria-label': 'Histogram of the tensor: each bar picks a value' });
  const pickCaption = h('figcaption', { class: 'hint' });
  const rows = h('div', { class: 'fmt-rows', id: 'learn-format-rows' });
  const floatTable = h('div', { class: 'table-wrap' });
  const intTable = h('div', { class: 'table-wrap' });
  section.replaceChildren(
    h('h2', { id: 'learn-formats-title', text: 'How numbers are stored' }),
    h('p', { class: 'learn-lede', text: 'A float is three fields: a sign, an exponent that picks a power of two, and a mantissa that ' +
      'picks a point between that power and the next. Fewer exponent bits shrink the range; fewer mantissa bits widen the gap ' +
      'between neighbouring values, so more is lost in rounding. Type a number, or pick one from the tensor below, to see how ' +
      'each format stores it; press a bit to flip it.' }),
    h('p', { class: 'learn-formula', html: 'value = (−1)<sup>s</sup> × 2<sup>e − bias</sup> × (1 + m / 2<sup>M</sup>); ' +
      'subnormal (e = 0): (−1)<sup>s</sup> × 2<sup>1 − bias</sup> × m / 2<sup>M</sup> — s, e, m are the fields read as ' +
      'unsigned integers, M the number of mantissa bits.' }),
    h('div', { class: 'learn-controls' }, h('label', { for: 'learn-number', text: 'Number' }), input, error),
    h('figure', { class: 'learn-pick' }, pickSvg, pickCaption),
    bitKey(),
    rows,
    h('h3', { text: 'Range of each format' }),
    h('p', { class: 'hint', text: 'The largest finite value, the smallest normal (full precision) and smallest subnormal ' +
      '(the last step before 0), as decoded by the same code as the fp16/bf16/fp8/fp4 schemes.' }),
    floatTable,
    h('h3', { text: 'Integers' }),
    h('p', { class: 'hint', html: 'An n-bit integer has 2<sup>n</sup> codes: unsigned 0 … 2<sup>n</sup> − 1, signed (two’s ' +
      'complement) −2<sup>n−1</sup> … 2<sup>n−1</sup> − 1. quantscope’s symmetric schemes use the <em>restricted</em> range ' +
      '±(2<sup>n−1</sup> − 1), one code fewer, so that +max and −max map to codes of equal size and 0 sits exactly in the ' +
      'middle (ONNX Runtime does the same for INT8); its asymmetric schemes use the unsigned codes and a zero point.' }),
    intTable,
  );

  const state = { report: null, edited: new Map(), index: null, histogram: null, dirty: true };
  const request = latestRequest();
  const pickRequest = latestRequest();
  // One guard per format for flipped bits: a newer flip of the same format, or a new typed
  // number (which decodes every format afresh), drops the answer to an older flip.
  const flipGuards = new Map();
  const flipGuard = (format) => {
    if (!flipGuards.has(format)) flipGuards.set(format, latest());
    return flipGuards.get(format);
  };
  const pendingCode = new Map();

  async function explain() {
    for (const guard of flipGuards.values()) guard.supersede();
    pendingCode.clear();
    if (state.report) markBusy(rows, `reading ${input.value.trim() || 'the number'}…`);
    try {
      const report = await request('learn_number', [input.value]);
      state.report = report;
      state.edited.clear();
      showError(error, null);
      input.removeAttribute('aria-invalid');
      renderRows();
      markBusy(rows, null);
    } catch (err) {
      if (err.superseded) return;
      input.setAttribute('aria-invalid', 'true');
      showError(error, err);
      // The rows stay, dimmed, for the last number that could be read — and say so.
      if (state.report) {
        markBusy(rows, `Below: ${num(state.report.typed)}, the last number that could be read.`);
        rows.setAttribute('aria-busy', 'false');
      }
    }
  }

  function renderRows() {
    rows.replaceChildren(...state.report.formats.map((base) => formatRow(state.edited.get(base.format) ?? base, base)));
    section.dataset.ready = 'true';
  }

  async function toggle(stored, bit) {
    // Flips pile up on the code last asked for, so two quick presses flip two bits.
    const code = ((pendingCode.get(stored.format) ?? stored.code) ^ (2 ** bit)) >>> 0;
    pendingCode.set(stored.format, code);
    try {
      const typed = state.report.typed;
      const next = await flipGuard(stored.format)(app.client.request('learn_decode_bits', [stored.format, code, typed]));
      pendingCode.delete(stored.format);
      state.edited.set(stored.format, next);
      const focusedBit = bit;
      renderRows();
      rows.querySelector(`[data-format="${stored.format}"] [data-bit="${focusedBit}"]`)?.focus();
    } catch (err) {
      if (!err.superseded) pendingCode.delete(stored.format);
      showError(error, err);
    }
  }

  function formatRow(st, base) {
    const edited = st.code !== base.code;
    const fields = [['sign', st.sign], ['exponent', st.exponent], ['mantissa', st.mantissa]];
    const total = st.sign.length + st.exponent.length + st.mantissa.length;
    let bit = total;
    const bits = h('div', { class: 'bits', role: 'group', 'aria-label': `${st.name} bits: press one to flip it` },
      ...fields.map(([field, text]) => h('span', { class: `field ${field}` }, ...[...text].map((b) => {
        bit -= 1;
        const which = bit;
        return h('button', {
          type: 'button', class: `bit ${field}`, 'data-bit': which, 'aria-pressed': String(b === '1'),
          'aria-label': `${st.name} bit ${which} (${field}) is ${b}`, title: `bit ${which}, ${field}`,
          onclick: () => toggle(st, which),
        }, b);
      }))));
    const errLabel = edited ? 'differs from the typed number by' : 'rounding error';
    const error = st.abs_error === null ? '—'
      : `${num(st.abs_error, 4)}${st.rel_error === null ? '' : ` (${num(100 * st.rel_error, 3)} %)`}`;
    const near = st.gap === null ? '—' : `${num(st.below, 9)} … ${num(st.above, 9)}`;
    const layout = `${st.exponent.length} exponent + ${st.mantissa.length} mantissa bits`;
    return h('article', { class: `fmt-row${edited ? ' edited' : ''}${st.format === 'fp32' ? ' wide' : ''}`, 'data-format': st.format, 'data-bits': `${st.sign} ${st.exponent} ${st.mantissa}` },
      h('div', { class: 'fmt-head' },
        h('h3', { text: st.name }),
        h('span', { class: 'hint', text: `1 sign + ${layout}` }),
        edited ? h('button', { type: 'button', class: 'fmt-reset', onclick: () => { flipGuard(st.format).supersede(); pendingCode.delete(st.format); state.edited.delete(st.format); renderRows(); rows.querySelector(`[data-format="${st.format}"] .bit`)?.focus(); } }, 'back to the typed number') : null),
      bits,
      h('dl', { class: 'fmt-values' },
        h('div', { class: 'wide' }, h('dt', { text: edited ? 'value of these bits' : 'stored value (exact)' }), h('dd', { class: 'exact', 'data-stat': 'exact', text: st.exact })),
        h('div', { class: 'wide' }, h('dt', { text: 'from the fields' }), h('dd', { class: 'formula',
          html: formulaHtml(st.kind === 'normal' || st.kind === 'subnormal' ? `${st.formula} = ${st.exact}` : st.formula) })),
        h('div', {}, h('dt', { text: errLabel }), h('dd', { 'data-stat': 'error', text: error })),
        h('div', {}, h('dt', { text: 'neighbours' }), h('dd', { 'data-stat': 'neighbours', text: near })),
        h('div', {}, h('dt', { text: 'gap (ulp) here' }), h('dd', { 'data-stat': 'gap', text: num(st.gap, 4) }))),
      st.note ? h('p', { class: 'fmt-note', text: st.note }) : null);
  }

  function renderFacts(facts) {
    floatTable.replaceChildren(h('table', { class: 'learn-table' },
      h('thead', {}, h('tr', {}, ...['format', 'bits s·e·m', 'bias', 'max', 'smallest normal', 'smallest subnormal', '≈ decimal digits', 'special codes; beyond max']
        .map((c, i) => h('th', { scope: 'col', text: c, class: i === 7 ? 'text' : null })))),
      h('tbody', {}, ...facts.floats.map((f) => h('tr', { 'data-format': f.format },
        ...[f.name, `1·${f.exponent_bits}·${f.mantissa_bits}`, f.bias, num(f.max, 5), num(f.min_normal, 5), num(f.min_subnormal, 5),
          num(f.decimal_digits, 2), `${f.specials}; beyond max: ${f.overflow}`].map((c, i) => h('td', { text: String(c), class: i === 7 ? 'text' : null })))))));
    intTable.replaceChildren(h('table', { class: 'learn-table' },
      h('thead', {}, h('tr', {}, ...['type', 'unsigned', 'signed', 'distinct values', 'quantscope symmetric', 'quantscope asymmetric']
        .map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, ...facts.ints.map((f) => h('tr', { 'data-bits': f.bits },
        ...[`INT${f.bits}`, `${f.unsigned[0]} … ${f.unsigned[1]}`, `${num(f.signed[0])} … ${f.signed[1]}`, String(f.distinct),
          `${num(f.symmetric[0])} … ${f.symmetric[1]} (${f.symmetric_distinct} values)`, `${f.asymmetric[0]} … ${f.asymmetric[1]} + zero point`]
          .map((c) => h('td', { text: c })))))));
  }

  // The tensor's histogram, one focusable bar per bin; a bar puts one of its values in the box.
  async function drawPicks() {
    const index = defaultTensor();
    // Another tensor: the old one's bars go at once (a bar would offer one of its values).
    if (index !== state.index) { pickSvg.replaceChildren(); pickCaption.textContent = ''; state.histogram = null; }
    state.index = index;
    if (index === null) return;
    try {
      state.histogram = await pickRequest('learn_pick_histogram', [index, 48]);
      drawPickBars();
      const t = app.tensors.find((x) => x.index === index);
      pickCaption.textContent = `Values of ${t?.name ?? 'the tensor'} (bar height on a log scale): press a bar to take a value from it.`;
    } catch (err) {
      showError(error, err);
    }
  }

  function drawPickBars() {
    const hist = state.histogram;
    const W = svgWidth(pickSvg), H = 92, top = 6, base = 70;
    pickSvg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    const x = scale(0, hist.counts.length, 8, W - 8);
    const most = Math.max(1, ...hist.counts);
    const height = (c) => (c ? 3 + (Math.log1p(c) / Math.log1p(most)) * (base - top - 3) : 0);
    const bars = hist.counts.map((c, i) => {
      const pick = hist.picks[i];
      const bar = s('rect', { class: pick === null ? 'bar empty' : 'bar', x: x(i) + 0.5, width: Math.max(1, x(i + 1) - x(i) - 1),
        y: base - height(c), height: height(c) || 1 });
      if (pick !== null) {
        bar.setAttribute('tabindex', '0');
        bar.setAttribute('role', 'button');
        bar.setAttribute('aria-label', `${c} values near ${num(pick, 4)}: use ${num(pick)}`);
        const use = () => { input.value = String(pick); explain(); };
        bar.addEventListener('click', use);
        bar.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); use(); } });
        bar.append(s('title', {}, `${c} values; click for ${num(pick)}`));
      }
      return bar;
    });
    pickSvg.replaceChildren(...bars,
      s('line', { class: 'axis', x1: 8, x2: W - 8, y1: base + 0.5, y2: base + 0.5 }),
      s('text', { class: 'tick', x: 8, y: H - 6 }, num(hist.lo, 3)),
      s('text', { class: 'tick', x: W - 8, y: H - 6, 'text-anchor': 'end' }, num(hist.hi, 3)));
  }
  redrawOnResize(pickSvg, () => state.histogram && drawPickBars());

  let timer = null;
  input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(explain, 150); });
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { clearTimeout(timer); explain(); } });

  return {
    async refresh() {
      if (!state.dirty) return;
      state.dirty = false;
      await Promise.all([
        app.client.request('learn_format_facts', []).then(renderFacts),
        explain(),
        drawPicks(),
      ]).catch((err) => showError(error, err));
    },
    invalidate() { state.dirty = true; },
    tensorChanged() { if (learnVisible()) drawPicks(); else state.dirty = true; },
  };
}

// The comparison chart of the Train view (issue 18, "the comparison a learner came for"): every
// row of the results table as a point, test accuracy against size (KB, log scale), the method's
// family by colour and marker, each point labelled with its run and a short name. Drawn on the
// main thread from the table's numbers; the worker computes nothing for it.
import { fmt } from '../shared/format.js';

// The families in legend order: how a row's method text is recognised, its colour and marker.
export const FAMILIES = [
  { key: 'fp32', label: 'FP32', test: /^FP32(, conv net)?$/, color: '#0f172a', marker: 'circle' },
  { key: 'ptq-dynamic', label: 'PTQ dynamic', test: /^PTQ dynamic /, color: '#b45309', marker: 'triangle-open' },
  { key: 'ptq', label: 'PTQ static', test: /^PTQ /, color: '#ea580c', marker: 'triangle' },
  { key: 'qat', label: 'QAT', test: /^QAT /, color: '#2563eb', marker: 'square' },
  { key: 'lsq', label: 'LSQ', test: /^LSQ /, color: '#0891b2', marker: 'diamond' },
  { key: 'pruned-quantized', label: 'pruned + quantized', test: /^pruned .*\+ PTQ/, color: '#15803d', marker: 'square' },
  { key: 'pruned', label: 'pruned', test: /^pruned /, color: '#16a34a', marker: 'ring' },
  { key: 'shared', label: 'weight-shared (k-means)', test: /^weight-shared /, color: '#9333ea', marker: 'diamond' },
  { key: 'distilled', label: 'distilled', test: /^distilled/, color: '#dc2626', marker: 'cross' },
  { key: 'student', label: 'student, labels alone', test: /^labels alone/, color: '#be185d', marker: 'ring' },
];

export const familyOf = (method) => FAMILIES.find((f) => f.test.test(method)) ?? FAMILIES[0];

// Static PTQ's calibration in a point's label ("PTQ8 KL"); min-max, the default, has none.
const CALIBRATION_TAGS = { 'min-max': '', 'percentile 99.999': ' p', entropy: ' KL', MSE: ' mse' };

// A short name for the point's label: "PTQ4", "PTQ2 KL", "QAT2", "KM4", "P80%", "P80%+8", "KD".
export function shortName(method) {
  const bits = /INT(\d)/.exec(method)?.[1] ?? '';
  const f = familyOf(method).key;
  if (f === 'ptq') return `PTQ${bits}${CALIBRATION_TAGS[/\(([^)]+)\)(, conv net)?$/.exec(method)?.[1]] ?? ''}`;
  if (f === 'qat' || f === 'lsq') return `${f.toUpperCase()}${bits}`;
  if (f === 'ptq-dynamic') return `DYN${bits}`;
  if (f === 'pruned' || f === 'pruned-quantized') {
    const pct = /pruned ([\d.]+) %/.exec(method)?.[1] ?? '';
    return `P${pct}%${f === 'pruned-quantized' ? '+8' : ''}${/fine-tuned/.test(method) ? ' ft' : ''}`;
  }
  if (f === 'shared') return `KM${/(\d)-bit/.exec(method)?.[1] ?? ''}${/fine-tuned/.test(method) ? ' ft' : ''}`;
  if (f === 'distilled') return `KD${bits ? ` ${bits}b` : ''}`;
  if (f === 'student') return 'S';
  return 'FP32';
}

function mark(ctx, kind, x, y, r) {
  const open = kind.endsWith('-open');
  const marker = kind.replace('-open', '');
  ctx.beginPath();
  if (marker === 'circle' || marker === 'ring') ctx.arc(x, y, r, 0, 2 * Math.PI);
  else if (marker === 'square') ctx.rect(x - r, y - r, 2 * r, 2 * r);
  else if (marker === 'triangle') { ctx.moveTo(x, y - r - 1); ctx.lineTo(x + r + 1, y + r); ctx.lineTo(x - r - 1, y + r); ctx.closePath(); }
  else if (marker === 'diamond') { ctx.moveTo(x, y - r - 1); ctx.lineTo(x + r + 1, y); ctx.lineTo(x, y + r + 1); ctx.lineTo(x - r - 1, y); ctx.closePath(); }
  else if (marker === 'cross') { ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x + r, y - r); ctx.lineTo(x - r, y + r); }
  if (open || marker === 'ring' || marker === 'cross') ctx.stroke();
  else ctx.fill();
}

// Ticks at 1, 2 and 5 × 10^k KB inside [lo, hi].
function logTicks(lo, hi) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) ticks.push(v);
    }
  }
  return ticks;
}

// The chart's size in CSS pixels, its backing store matched to it (× devicePixelRatio), so text
// stays 12 px on a phone instead of the 900-pixel drawing scaled down to a third. A hidden canvas
// (width 0) keeps the size its attributes give.
// `narrow`: the height (CSS pixels) below 600 px of width; wider, the attributes' proportions.
export function fitToCss(canvas, narrow = 340) {
  const css = canvas.getBoundingClientRect().width;
  const dpr = globalThis.devicePixelRatio || 1;
  if (!(css > 0)) return { w: canvas.width, h: canvas.height, dpr: 1 };
  const w = css;
  const h = w < 600 ? narrow : (w * Number(canvas.getAttribute('height'))) / Number(canvas.getAttribute('width'));
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  return { w, h, dpr };
}

// The legend's entries laid out in rows that fit `width`: [{f, x, row}], and the row count.
function legendLayout(ctx, families, left, width) {
  const items = [];
  let x = left;
  let row = 0;
  for (const f of families) {
    const span = ctx.measureText(f.label).width + 30;
    if (x > left && x + span - 16 > width) {
      x = left;
      row++;
    }
    items.push({ f, x, row });
    x += span;
  }
  return { items, rows: row + 1 };
}

// `results`: [{run, method, accuracy (0–1), size (bytes)}], one per table row.
export function drawComparison(canvas, results) {
  const ctx = canvas.getContext('2d');
  const { w, h, dpr } = fitToCss(canvas);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.font = '12px sans-serif';
  const present = new Set(results.filter((r) => Number.isFinite(r.accuracy) && r.size > 0).map((p) => familyOf(p.method).key));
  const legend = legendLayout(ctx, FAMILIES.filter((f) => present.has(f.key)), 8, w);
  const pad = { l: 56, r: 20, t: 24 + 16 * legend.rows, b: 40 };
  ctx.clearRect(0, 0, w, h);
  ctx.lineWidth = 1;
  ctx.strokeStyle = '#94a3b8';
  ctx.strokeRect(pad.l, pad.t, w - pad.l - pad.r, h - pad.t - pad.b);
  const pts = results.filter((r) => Number.isFinite(r.accuracy) && r.size > 0);
  canvas.dataset.points = String(pts.length);
  canvas.dataset.families = [...new Set(pts.map((p) => familyOf(p.method).key))].join(' ');
  ctx.fillStyle = '#334155';
  if (!pts.length) {
    ctx.fillText('each run you start adds its points here: test accuracy against size', pad.l + 10, pad.t + 20);
    return;
  }
  const kb = pts.map((p) => p.size / 1024);
  const lo = Math.min(...kb) / 1.25;
  const hi = Math.max(...kb) * 1.25;
  const accMin = Math.min(0.9, Math.floor(Math.min(...pts.map((p) => p.accuracy)) * 10) / 10);
  const x = (v) => pad.l + (Math.log(v / lo) / Math.log(hi / lo)) * (w - pad.l - pad.r);
  const y = (a) => h - pad.b - ((a - accMin) / (1 - accMin)) * (h - pad.t - pad.b);
  // Grid and axes: size (log) below, accuracy (%) on the left.
  ctx.strokeStyle = '#e2e8f0';
  for (const t of logTicks(lo, hi)) {
    ctx.beginPath();
    ctx.moveTo(x(t), pad.t);
    ctx.lineTo(x(t), h - pad.b);
    ctx.stroke();
    ctx.fillText(`${t}`, x(t) - 6, h - pad.b + 14);
  }
  for (let a = accMin; a <= 1.0001; a += (1 - accMin) / 5) {
    ctx.beginPath();
    ctx.moveTo(pad.l, y(a));
    ctx.lineTo(w - pad.r, y(a));
    ctx.stroke();
    ctx.fillText(`${fmt(a * 100, { digits: 3 })} %`, 4, y(a) + 4);
  }
  ctx.fillText('size (KB, log scale)', w / 2 - 50, h - 6);
  // Legend: the families present, in as many rows as the width needs.
  for (const { f, x: lx, row } of legend.items) {
    const ly = 16 + 16 * row;
    ctx.fillStyle = ctx.strokeStyle = f.color;
    ctx.lineWidth = 2;
    mark(ctx, f.marker, lx + 5, ly, 4);
    ctx.fillStyle = '#334155';
    ctx.fillText(f.label, lx + 14, ly + 4);
  }
  // The points, each labelled "run: name". Points of one run drawn on the same spot (static
  // PTQ's calibrations at INT8 often agree to a digit) share one label, "1: PTQ8 · p · KL"; a
  // label that would cover one placed before tries the lines just above and below, then the
  // point's other side, and is joined to its point by a short line when it had to move far.
  const groups = [];
  for (const p of pts) {
    const px = x(p.size / 1024);
    const py = y(p.accuracy);
    const f = familyOf(p.method);
    ctx.fillStyle = ctx.strokeStyle = f.color;
    ctx.lineWidth = 2;
    mark(ctx, f.marker, px, py, 4);
    const name = shortName(p.method);
    const same = groups.find((g) => g.run === p.run && g.family === f && Math.abs(g.px - px) < 2 && Math.abs(g.py - py) < 3);
    if (same) same.names.push(name.replace(/^[A-Z]+\d* ?/, '') || name);
    else groups.push({ run: p.run, family: f, px, py, names: [name], cnn: /, conv net$/.test(p.method) });
  }
  const placed = [];
  const free = (lx, ty, tw) => ty > pad.t + 10 && ty < h - pad.b - 2 && lx > 0 && lx + tw < w &&
    !placed.some((b) => lx < b.x + b.w && b.x < lx + tw && Math.abs(b.y - ty) < 12);
  for (const g of groups) {
    const text = `${g.run}: ${g.names.join(' · ')}${g.cnn ? ' CNN' : ''}`;
    const tw = ctx.measureText(text).width;
    const sides = g.px + 7 + tw > w ? [g.px - 7 - tw] : [g.px + 7, g.px - 7 - tw];
    let spot = null;
    for (let k = 0; k <= 8 && !spot; k++) {
      const dy = (k % 2 ? 1 : -1) * Math.ceil(k / 2) * 12;
      for (const lx of sides) if (!spot && free(lx, g.py - 5 + dy, tw)) spot = { lx, ty: g.py - 5 + dy };
    }
    spot ??= { lx: sides[0], ty: g.py - 5 };
    placed.push({ x: spot.lx, y: spot.ty, w: tw });
    ctx.fillStyle = ctx.strokeStyle = g.family.color;
    if (Math.abs(spot.ty - (g.py - 5)) > 12) {
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(g.px, g.py);
      ctx.lineTo(spot.lx < g.px ? spot.lx + tw : spot.lx, spot.ty - 4);
      ctx.stroke();
    }
    ctx.fillText(text, spot.lx, spot.ty);
  }
}

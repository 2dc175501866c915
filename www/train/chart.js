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

// A short name for the point's label: "PTQ4", "QAT2", "KM4", "P80%", "P80%+8", "KD".
export function shortName(method) {
  const bits = /INT(\d)/.exec(method)?.[1] ?? '';
  const f = familyOf(method).key;
  if (f === 'ptq' || f === 'qat' || f === 'lsq') return `${f.toUpperCase()}${bits}`;
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

// `results`: [{run, method, accuracy (0–1), size (bytes)}], one per table row.
export function drawComparison(canvas, results) {
  const ctx = canvas.getContext('2d');
  const { width: w, height: h } = canvas;
  const pad = { l: 56, r: 20, t: 40, b: 40 };
  ctx.clearRect(0, 0, w, h);
  ctx.font = '12px sans-serif';
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
  // Legend: the families present.
  let lx = pad.l;
  for (const f of FAMILIES.filter((f) => canvas.dataset.families.split(' ').includes(f.key))) {
    ctx.fillStyle = ctx.strokeStyle = f.color;
    ctx.lineWidth = 2;
    mark(ctx, f.marker, lx + 5, 16, 4);
    ctx.fillStyle = '#334155';
    ctx.fillText(f.label, lx + 14, 20);
    lx += ctx.measureText(f.label).width + 30;
  }
  // The points, each labelled "run: name"; a label that would cover one placed before moves
  // down a line (points of one size and accuracy, e.g. static and dynamic INT8, are common).
  const placed = [];
  for (const p of pts) {
    const f = familyOf(p.method);
    const px = x(p.size / 1024);
    const py = y(p.accuracy);
    ctx.fillStyle = ctx.strokeStyle = f.color;
    ctx.lineWidth = 2;
    mark(ctx, f.marker, px, py, 4);
    const text = `${p.run}: ${shortName(p.method)}${/, conv net$/.test(p.method) ? ' CNN' : ''}`;
    const tw = ctx.measureText(text).width;
    let ty = py - 5;
    while (placed.some((b) => px < b.x + b.w && b.x < px + tw && Math.abs(b.y - ty) < 12) && ty < h) ty += 12;
    placed.push({ x: px, y: ty, w: tw });
    ctx.fillText(text, px + 7, ty);
  }
}

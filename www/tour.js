// A guided tour: eight steps through the Inspect view, the Learn panels and the Run view. Each step switches
// to its view, scrolls its element into view, rings it (the rest of the page dims; clicks still
// go through) and explains it in a small card with Back, Next and Skip. Keyboard: the card takes
// focus; ←/→ step, Esc skips. The header's "Take the tour" button starts it.
//
// A first visit starts the tour by itself once the page is ready; after that (localStorage
// remembers that it was seen, finished or skipped) only the button does. It does not start by
// itself for a shared link that carries settings (the visitor came to see those), nor in a
// browser driven by automation (navigator.webdriver), so test suites see the page as it is.
import { showView } from './views.js';
import { hasParams } from './urlstate.js';

const SEEN_KEY = 'quantscope.tour';

// Each target is small enough to sit beside the card on a phone as on a desktop: the card is
// placed where it covers none of it (see place()).
const STEPS = [
  {
    view: 'inspect', target: '#input', title: 'Your tensors',
    text: 'Drop .npy, .npz, .safetensors, .gguf or .onnx files here, or add a built-in sample. Everything is computed in your browser; nothing is uploaded.',
  },
  {
    view: 'inspect', target: '#tensor .scheme-row', fallback: '#tensor', title: 'One scheme, up close',
    text: 'Pick a quantization scheme. Below it: its scale, the error it makes (MSE, SQNR in dB), the bits per weight with scales included, and histograms of the values before and after.',
  },
  {
    view: 'inspect', target: '#sqnr-chart', title: 'Every scheme at once',
    text: 'Each dot is one scheme on this tensor: bits per weight across, accuracy (SQNR) up. Up and to the left is better. The table below sorts by any column.',
  },
  {
    view: 'learn', target: '#learn-format-rows [data-format="fp32"]', fallback: '#learn-formats', title: 'Learn: how numbers are stored',
    text: 'The Learn view explains quantization step by step. Here, a number\'s bits in each float format — sign, exponent and mantissa, coloured as the key above says; press a bit to flip it. Further down: scale and zero point, and what clipping buys.',
  },
  {
    view: 'learn', target: '#gran-table', fallback: '#learn-granularity', title: 'Granularity',
    text: 'One scale per tensor, per row, or per group of 32 values? Compare their errors here; below, every scale as a heat map, and a click on a block reads its packed bytes.',
  },
  {
    view: 'learn', target: '#learn-memory .controls', fallback: '#learn-memory', title: 'Will it fit?',
    text: 'Memory to run a 7B, 13B or 70B model — or the one you loaded — at every precision, and which GPUs it fits: the table below.',
  },
  {
    view: 'learn', target: '#cmp-sqnr', fallback: '#learn-compare', title: 'Compare schemes',
    text: 'Size against accuracy for every scheme; below, why NF4 puts its levels where it does, and INT4, NF4 and FP4 drawn over your tensor\'s values.',
  },
  {
    view: 'run', target: '#run-pad', fallback: '#view-run', title: 'Run a model',
    text: 'Draw a digit here, or step through the test set: a small model classifies it in FP32 and quantized, each with its probabilities. Further down: every scheme\'s test accuracy, size and latency, which layer is most sensitive, and your own ONNX model.',
  },
];

let index = -1;
let ring = null;
let card = null;
let returnFocus = null;
let startView = 'inspect';

function remember() {
  try { localStorage.setItem(SEEN_KEY, 'seen'); } catch { /* storage blocked: the tour may show again */ }
}

function seen() {
  try { return localStorage.getItem(SEEN_KEY) !== null; } catch { return true; }
}

function targetOf(step) {
  const el = document.querySelector(step.target);
  if (el && el.getClientRects().length) return el;
  return step.fallback ? document.querySelector(step.fallback) : el;
}

function build() {
  ring = document.createElement('div');
  ring.id = 'tour-ring';
  ring.setAttribute('aria-hidden', 'true');
  card = document.createElement('div');
  card.id = 'tour';
  card.setAttribute('role', 'dialog');
  card.setAttribute('aria-modal', 'false');
  card.setAttribute('aria-labelledby', 'tour-title');
  card.setAttribute('aria-describedby', 'tour-text');
  card.innerHTML = `
    <p class="tour-count" id="tour-count"></p>
    <h2 id="tour-title" tabindex="-1"></h2>
    <p id="tour-text"></p>
    <div class="tour-buttons">
      <button type="button" id="tour-skip">Skip tour</button>
      <span class="tour-nav">
        <button type="button" id="tour-back">Back</button>
        <button type="button" id="tour-next">Next</button>
      </span>
    </div>`;
  document.body.append(ring, card);
  card.querySelector('#tour-skip').onclick = () => end();
  card.querySelector('#tour-back').onclick = () => go(index - 1);
  card.querySelector('#tour-next').onclick = () => (index === STEPS.length - 1 ? end() : go(index + 1));
  card.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); end(); }
    // Arrows step only when focus is not in a control that uses them.
    if (e.target.tagName === 'BUTTON' || e.target.id === 'tour-title') {
      if (e.key === 'ArrowRight' && index < STEPS.length - 1) { e.preventDefault(); go(index + 1); }
      if (e.key === 'ArrowLeft' && index > 0) { e.preventDefault(); go(index - 1); }
    }
  });
}

// The page's layout moves under the ring (a progress bar appears, a table fills in), so while
// the tour is on the ring follows its element every frame: one getBoundingClientRect each.
// A step whose element was not there yet scrolls to it once it is.
function follow() {
  if (index < 0) return;
  // The step's own element appeared after go() showed its fallback (a panel still computing).
  const el = targetOf(STEPS[index]);
  if (el !== revealed) reveal(el);
  place();
  requestAnimationFrame(follow);
}

// Rings the step's element (in page coordinates, so it scrolls with it) and puts the card
// where it covers none of it: below the element if there is room, else above it (or beside it,
// on a wide window: the card sits at the right edge). go() scrolls so that one of the two fits.
function place() {
  if (index < 0) return;
  const el = targetOf(STEPS[index]);
  if (!el) return;
  const r = el.getBoundingClientRect();
  const pad = 6;
  Object.assign(ring.style, {
    top: `${r.top + window.scrollY - pad}px`,
    left: `${Math.max(r.left + window.scrollX - pad, 0)}px`,
    width: `${Math.min(r.width + 2 * pad, document.documentElement.clientWidth - Math.max(r.left - pad, 0))}px`,
    height: `${r.height + 2 * pad}px`,
  });
  const fit = cardFits(r);
  if (fit.below) card.classList.remove('at-top');
  else if (fit.above || fit.beside) card.classList.add('at-top');
}

const GAP = 16;  // px between the card and the window's edge, and between the card and the ring

// Where the card (fixed to a bottom or top corner, GAP from the edges) clears the element `r`.
function cardFits(r) {
  const c = card.getBoundingClientRect();
  const width = document.documentElement.clientWidth;
  return {
    below: r.bottom + GAP / 2 + GAP + c.height <= window.innerHeight,
    above: r.top - GAP / 2 - GAP - c.height >= 0,
    beside: r.right + GAP / 2 + GAP + c.width <= width,
  };
}

// Scrolls `el` to the top of the window, or just below the card when the card fits neither
// below, above nor beside it.
let revealed = null;
function reveal(el) {
  revealed = el;
  if (!el) return;
  el.scrollIntoView({ block: 'start', behavior: 'instant' });
  // Leave room above the element for the ring and a glimpse of what is before it.
  window.scrollBy({ top: -GAP, behavior: 'instant' });
  const r = el.getBoundingClientRect();
  const fit = cardFits(r);
  if (!fit.below && !fit.above && !fit.beside) {
    window.scrollBy({ top: r.top - (card.getBoundingClientRect().height + GAP + GAP / 2 + 6), behavior: 'instant' });
  }
}

function go(i) {
  index = Math.max(0, Math.min(i, STEPS.length - 1));
  const step = STEPS[index];
  showView(step.view);
  card.querySelector('#tour-count').textContent = `Step ${index + 1} of ${STEPS.length}`;
  card.querySelector('#tour-title').textContent = step.title;
  card.querySelector('#tour-text').textContent = step.text;
  card.querySelector('#tour-back').disabled = index === 0;
  card.querySelector('#tour-next').textContent = index === STEPS.length - 1 ? 'Finish' : 'Next';
  reveal(targetOf(step));
  card.dataset.step = String(index + 1);
  ring.dataset.target = step.target;
  place();
  card.querySelector('#tour-title').focus({ preventScroll: true });
}

/** Starts the tour at its first step. */
export function startTour() {
  if (!card) build();
  const running = index >= 0;
  returnFocus = document.activeElement;
  startView = document.body.dataset.view || 'inspect';
  remember();
  ring.hidden = false;
  card.hidden = false;
  document.body.dataset.tour = 'on';
  go(0);
  if (!running) requestAnimationFrame(follow);
}

function end() {
  index = -1;
  ring.hidden = true;
  card.hidden = true;
  document.body.dataset.tour = 'off';
  // Back where the visitor started.
  showView(startView);
  window.scrollTo({ top: 0, behavior: 'instant' });
  (returnFocus && document.contains(returnFocus) ? returnFocus : document.getElementById('tour-start'))?.focus();
}

/** Wires the header button and, on a first visit, starts the tour once the page is ready. */
export function wireTour() {
  document.getElementById('tour-start').onclick = () => startTour();
  if (seen() || hasParams() || navigator.webdriver) return;
  const ready = () => document.body.dataset.ready === 'true';
  if (ready()) { startTour(); return; }
  const watch = new MutationObserver(() => {
    if (!ready()) return;
    watch.disconnect();
    if (!seen()) startTour();
  });
  watch.observe(document.body, { attributes: true, attributeFilter: ['data-ready'] });
}

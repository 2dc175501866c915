// The page's four views (Inspect, Learn, Run a model, Train) as tabs; the view is kept in the URL's
// hash (`#learn`, `#run`, ...) so a link opens it.
import { setView } from './urlstate.js';
const VIEWS = ['inspect', 'learn', 'run', 'train'];

export function currentView() {
  const name = location.hash.slice(1).split(/[?&/]/)[0];
  return VIEWS.includes(name) ? name : 'inspect';
}

export function showView(name, { updateHash = true } = {}) {
  if (!VIEWS.includes(name)) name = 'inspect';
  for (const v of VIEWS) {
    document.getElementById(`view-${v}`).hidden = v !== name;
    const tab = document.getElementById(`tab-${v}`);
    tab.setAttribute('aria-selected', String(v === name));
    tab.tabIndex = v === name ? 0 : -1;
  }
  document.body.dataset.view = name;
  // The settings after the view (`#learn?bits=4`, see urlstate.js) stay in the URL.
  if (updateHash && currentView() !== name) setView(name);
  window.dispatchEvent(new CustomEvent('view-shown', { detail: { view: name } }));
}

export function wireViews() {
  const tabs = VIEWS.map((v) => document.getElementById(`tab-${v}`));
  tabs.forEach((tab, i) => {
    tab.onclick = () => showView(VIEWS[i]);
    // Arrow keys move between tabs, as the ARIA tabs pattern expects.
    tab.onkeydown = (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      next.focus();
      next.click();
    };
  });
  window.addEventListener('hashchange', () => showView(currentView(), { updateHash: false }));
  showView(currentView(), { updateHash: false });
}

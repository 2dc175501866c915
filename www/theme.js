// Light and dark theme. A classic (non-module) script loaded in <head>, so the theme is set
// before the first paint and the page never flashes the wrong colours. The choice is, in order:
// what the visitor picked with the header's toggle (localStorage), else the system's
// prefers-color-scheme. style.css keys every colour on <html data-theme="light|dark">.
// Charts drawn with plotters keep their white background in both themes (a light card), so
// their colours need no second palette.
(function () {
  const KEY = 'quantscope.theme';
  const root = document.documentElement;
  const media = window.matchMedia('(prefers-color-scheme: dark)');

  function stored() {
    try {
      const v = localStorage.getItem(KEY);
      return v === 'dark' || v === 'light' ? v : null;
    } catch {
      return null; // storage blocked (private mode, file://): follow the system
    }
  }

  function apply(theme) {
    root.dataset.theme = theme;
    const button = document.getElementById('theme-toggle');
    if (!button) return;
    // A toggle button: its name stays "Dark theme", aria-pressed says whether it is on.
    button.setAttribute('aria-pressed', String(theme === 'dark'));
  }

  apply(stored() ?? (media.matches ? 'dark' : 'light'));
  // Follow the system while the visitor has not chosen.
  media.addEventListener('change', (e) => { if (!stored()) apply(e.matches ? 'dark' : 'light'); });

  document.addEventListener('DOMContentLoaded', () => {
    const button = document.getElementById('theme-toggle');
    if (!button) return;
    apply(root.dataset.theme);
    button.addEventListener('click', () => {
      const next = root.dataset.theme === 'dark' ? 'light' : 'dark';
      try { localStorage.setItem(KEY, next); } catch { /* not remembered, still applied */ }
      apply(next);
      window.dispatchEvent(new CustomEvent('theme-changed', { detail: { theme: next } }));
    });
  });
})();

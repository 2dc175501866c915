// The page's state in the URL, so a link opens what its sender saw: the view, then settings
// as a query after it in the hash, readable and shareable:
//   #learn?tensor=sample:laplace&scheme=q4_0&bits=4&gran=g32
// Keys in use: tensor (a tensor name; `sample:<kind>` is re-created on load), scheme (the
// selected scheme), counts (`log`: the Inspect histograms' log count axis), and each panel's
// settings (bits, kind, gran, block, fmt, mem, ...); workers (the whole-model comparison's pool size).
// Writes use history.replaceState: changing a setting does not add a Back-button entry.

function split(hash = location.hash) {
  const text = hash.replace(/^#/, '');
  const q = text.indexOf('?');
  return q < 0 ? { view: text, query: '' } : { view: text.slice(0, q), query: text.slice(q + 1) };
}

/** The view named in the hash ('' when none). */
export function hashView() {
  return split().view;
}

/** The settings in the hash, as URLSearchParams. */
export function hashParams() {
  return new URLSearchParams(split().query);
}

/** One setting, or null. */
export function getParam(key) {
  return hashParams().get(key);
}

/** True when the URL carries any setting (a shared link rather than a plain visit). */
export function hasParams() {
  return [...hashParams().keys()].length > 0;
}

/** The hash for `view` with `params` (URLSearchParams), e.g. `#learn?bits=4`. */
export function hashFor(view, params = hashParams()) {
  const query = params.toString();
  return `#${view}${query ? `?${query}` : ''}`;
}

function write(view, params) {
  const hash = hashFor(view, params);
  if (hash !== location.hash) history.replaceState(history.state, '', hash);
}

/** Switches the view in the URL, keeping the settings. */
export function setView(view) {
  write(view, hashParams());
}

/** Sets settings: `{key: value}`; null, undefined or '' removes a key. */
export function setParams(values) {
  const params = hashParams();
  for (const [key, value] of Object.entries(values)) {
    if (value === null || value === undefined || value === '') params.delete(key);
    else params.set(key, String(value));
  }
  write(split().view || 'inspect', params);
}

/** Calls `fn(params)` when the hash is changed from outside the page (an edited or followed link). */
export function onParamsChanged(fn) {
  window.addEventListener('hashchange', () => fn(hashParams()));
}

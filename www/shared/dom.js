// DOM helpers every view uses.

// The first element matching `selector` (in `root`, the document by default).
export const $ = (selector, root = document) => root.querySelector(selector);

// Shows `err` (an Error, a message, or null/'' to clear) in `box`, an error box that is hidden
// while empty. Requests a newer one superseded and cancelled requests are not errors: they are
// dropped and leave the box as it is (see latest.js).
export function showError(box, err) {
  if (isIgnorable(err)) return;
  const message = err ? String(err.message ?? err) : '';
  box.textContent = message;
  box.hidden = !message;
}

// A superseded (latest.js) or cancelled (client.js) request: nothing the visitor needs to see.
export const isIgnorable = (err) => Boolean(err?.superseded || err?.cancelled);

// Saves bytes (or a Blob) from a worker as a file, the way a browser download works.
export function saveBytes(bytes, fileName) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

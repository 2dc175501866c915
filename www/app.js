// What the page's views share: the worker client (replaced when the worker restarts), the
// loaded tensors and the selected one, and events. The Inspect view (inspect/view.js) keeps
// these up to date; the Learn view reads them and listens for (the Run view has its own worker,
// run/client.js):
//   'tensors-changed'  — tensors were added or the worker restarted (app.tensors replaced)
//   'tensor-selected'  — detail: {index}
//   'client-restarted' — app.client is a fresh worker; every worker-side handle is gone
//   'open-files'       — detail {files, select, done}: another view asks Inspect to open files
//                        as if dropped, then select tensor `select` (inspect/view.js)
//   'load-imatrix'     — detail {file, done}: another view loads an importance matrix
//                        (inspect/imatrix.js); Learn's "load the tiny language model" sends both
export const app = {
  client: null,
  tensors: [],        // [{index, name, dtype, shape, stored_bytes, stats}]
  selected: null,     // tensor index
  events: new EventTarget(),
  emit(type, detail) { this.events.dispatchEvent(new CustomEvent(type, { detail })); },
  on(type, fn) { this.events.addEventListener(type, (e) => fn(e.detail)); },
};

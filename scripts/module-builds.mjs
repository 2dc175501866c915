// What `npm start` (scripts/start.mjs) tells the server (scripts/serve.mjs) about the page's wasm
// modules while scripts/build-wasm.sh is still building some of them: which www/ folders are not
// finished yet, and when each one is. A folder is announced finished by build-wasm.sh's size line,
// printed after wasm-bindgen and wasm-opt have written its last file.

/** The folder a build-wasm.sh output line announces as finished, or null. */
export function finishedFolder(line) {
  return line.match(/^\[build\] www\/(pkg(?:-[a-z-]+)?)\/quantscope_bg\.wasm: \d+ bytes/)?.[1] ?? null;
}

export class ModuleBuilds {
  /** `folders`: the www/ folders (pkg, pkg-run, ...) a build under way will write. */
  constructor(folders) {
    this.pending = new Map();
    for (const folder of folders) {
      let settle;
      const promise = new Promise((resolve, reject) => (settle = { resolve, reject }));
      // A folder nobody asked for may fail unobserved; that is not an unhandled rejection.
      promise.catch(() => {});
      this.pending.set(folder, { promise, ...settle });
    }
  }

  /** Resolves when `folder` can be served: at once unless its build is still pending. */
  ready(folder) {
    return this.pending.get(folder)?.promise ?? Promise.resolve();
  }

  /** The folders still waited for. */
  get waiting() {
    return [...this.pending].filter(([, entry]) => !entry.failed).map(([folder]) => folder);
  }

  finished(folder) {
    this.pending.get(folder)?.resolve();
    this.pending.delete(folder);
  }

  /** Every folder still pending fails with `reason` (the build stopped); it stays failed, so its
   * old or half-written files are never served. */
  failAll(reason) {
    for (const entry of this.pending.values()) {
      entry.reject(new Error(reason));
      entry.failed = true;
    }
  }
}

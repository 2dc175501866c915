// The page's module graph on disk: every relative import, dynamic import, `new URL(…,
// import.meta.url)` (workers, models) and script or stylesheet link in index.html and www/ names
// a file that exists, so moving a file cannot leave a view, a worker or a bench page pointing at
// nothing. Runs without a browser; the built wasm packages (www/pkg*) count as present when built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const WWW = join(ROOT, 'www');
const BUILT = /^www\/pkg(-[a-z]+)*\//;

async function files(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) { if (!/^pkg/.test(e.name) && e.name !== 'models') out.push(...await files(path)); }
    else if (/\.(js|html)$/.test(e.name)) out.push(path);
  }
  return out;
}

// Relative specifiers a file names; `${pkg}` in a template stands for every built package.
function references(text, html) {
  const found = [];
  const patterns = html
    ? [/<script[^>]*\ssrc="([^"]+)"/g, /<link[^>]*\shref="([^"]+)"/g]
    : [/^\s*import\s[^'"]*?from\s+['"]([^'"]+)['"]/gm, /^\s*import\s+['"]([^'"]+)['"]/gm, /^\s*export\s[^'"]*?from\s+['"]([^'"]+)['"]/gm,
      /\bimport\(\s*[`'"]([^`'"]+)[`'"]\s*\)/g, /new URL\(\s*[`'"]([^`'"]+)[`'"]\s*,\s*import\.meta\.url\s*\)/g];
  for (const re of patterns) for (const m of text.matchAll(re)) if (/^\.\.?\/|^www\//.test(m[1])) found.push(m[1]);
  return found;
}

test('every relative import, worker URL and page link names a file that exists', async () => {
  const missing = [];
  let checked = 0;
  for (const file of [join(ROOT, 'index.html'), ...await files(WWW)]) {
    const text = await readFile(file, 'utf8');
    for (const spec of references(text, file.endsWith('.html'))) {
      // A folder named at run time (bench-real's --base DIR: another build to time beside this one).
      if (/\$\{(?!pkg\})/.test(spec)) continue;
      const variants = spec.includes('${pkg}') ? ['pkg-bench', 'pkg-nosimd'].map((p) => spec.replace('${pkg}', p)) : [spec];
      for (const v of variants) {
        const target = resolve(dirname(file), v.split('?')[0]);
        const rel = relative(ROOT, target);
        checked++;
        if (BUILT.test(rel)) continue; // made by scripts/build-wasm.sh
        const found = await stat(target).catch(() => null);
        if (!(v.endsWith('/') ? found?.isDirectory() : found?.isFile())) missing.push(`${relative(ROOT, file)}: ${spec}`);
      }
    }
  }
  assert.ok(checked > 50, `only ${checked} references found`);
  assert.deepEqual(missing, []);
});

// A dependency-free static server for the playground: serves the repo root (index.html, www/).
// Usage: node scripts/serve.mjs [--port N]   (PORT env also works; 0 picks a free port)
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

// The page's Content-Security-Policy, read from index.html's own <meta> (one place states it) and
// sent with every response: a worker's policy comes with its script's response, not from the page.
export const CONTENT_SECURITY_POLICY = (() => {
  const html = readFileSync(join(ROOT, 'index.html'), 'utf8');
  const policy = html.match(/<meta http-equiv="Content-Security-Policy" content="([^"]+)"/)?.[1];
  if (!policy) throw new Error('index.html has no Content-Security-Policy <meta>');
  return policy;
})();
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.npy': 'application/octet-stream',
  '.onnx': 'application/octet-stream',
};

// Modules the page falls back from when they do not load (www/run/runner.js, lm-worker.js: the
// relaxed-SIMD build, else the plain one): while still being built they are answered 404 at once.
const FALLBACK_WHILE_BUILDING = new Set(['pkg-run-relaxed', 'pkg-lm-relaxed']);

// `modules`, when given (scripts/start.mjs), says which www/pkg* folders are still being built:
// `ready(folder)` resolves once a folder's module is finished, or rejects with why its build failed.
// A request for a file in such a folder waits for it rather than getting a half-written module.
export function startServer(port = 0, { modules } = {}) {
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      const folder = path.match(/^\/www\/(pkg(?:-[a-z-]+)?)\//)?.[1];
      if (modules && folder && FALLBACK_WHILE_BUILDING.has(folder) && modules.waiting.includes(folder)) {
        // Not built yet, and the page has a fallback for it: say so at once rather than hold the
        // Run view until the last module of a first start is built.
        res.writeHead(404, { 'content-type': 'text/plain', 'content-security-policy': CONTENT_SECURITY_POLICY });
        res.end(`www/${folder} is still being built`);
        return;
      }
      if (modules && folder) {
        try {
          await modules.ready(folder);
        } catch (err) {
          res.writeHead(503, { 'content-type': 'text/plain', 'content-security-policy': CONTENT_SECURITY_POLICY });
          res.end(`www/${folder} could not be built: ${err.message}`);
          return;
        }
      }
      let file = normalize(join(ROOT, path));
      if (file !== ROOT && !file.startsWith(ROOT + sep)) throw Object.assign(new Error('outside root'), { code: 'ENOENT' });
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
        'content-security-policy': CONTENT_SECURITY_POLICY,
      });
      res.end(body);
    } catch (err) {
      res.writeHead(err.code === 'ENOENT' || err.code === 'EISDIR' ? 404 : 500, { 'content-type': 'text/plain' });
      res.end(err.code === 'ENOENT' ? 'not found' : 'server error');
    }
  });
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolveListen(server));
  });
}

/** The port a command line asks for: `--port N`, else the PORT environment variable, else 8080. */
export function requestedPort(argv = process.argv, env = process.env) {
  const flag = argv.indexOf('--port');
  return Number(flag > 0 ? argv[flag + 1] : env.PORT ?? 8080);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await startServer(requestedPort());
  console.log(`quantscope is served at http://localhost:${server.address().port}/  (Ctrl+C stops it)`);
}

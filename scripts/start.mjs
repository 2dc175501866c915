// `npm start` after scripts/setup.sh: builds the three wasm modules the first paint needs (the
// Inspect worker's workbench, www/pkg; the main thread's charts, www/pkg-plot; the Learn view's
// tutor, www/pkg-learn, whose JS glue the page imports statically though its wasm loads when
// Learn opens), serves the page, and builds the other twelve behind it. A view that needs one of those before it is
// built waits for it: the server holds that request until build-wasm.sh announces the module
// (scripts/module-builds.mjs), so a first start shows the page minutes sooner than a full build.
//   node scripts/start.mjs [--port N]    (PORT env also works)
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { finishedFolder, ModuleBuilds } from './module-builds.mjs';
import { requestedPort, startServer } from './serve.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILD = 'scripts/build-wasm.sh';
const FIRST_PAINT = ['pkg', 'pkg-plot', 'pkg-learn'];


const list = spawnSync('bash', [BUILD, '--list'], { cwd: ROOT, encoding: 'utf8' });
if (list.status !== 0) throw new Error(`${BUILD} --list failed: ${list.stderr}`);
const rest = list.stdout.split('\n').filter((f) => f && !FIRST_PAINT.includes(f));

const first = spawnSync('bash', [BUILD, ...FIRST_PAINT], { cwd: ROOT, stdio: 'inherit' });
if (first.status !== 0) process.exit(first.status ?? 1);

const modules = new ModuleBuilds(rest);
const server = await startServer(requestedPort(), { modules });
console.log(
  `quantscope is served at http://localhost:${server.address().port}/  (Ctrl+C stops it)\n` +
    `  building the other ${rest.length} modules behind it; a view that needs one waits for it`,
);

const build = spawn('bash', [BUILD, ...rest], { cwd: ROOT, stdio: ['ignore', 'inherit', 'pipe'] });
createInterface({ input: build.stderr }).on('line', (line) => {
  process.stderr.write(`${line}\n`);
  const folder = finishedFolder(line);
  if (folder) modules.finished(folder);
});
build.on('close', (code) => {
  if (code === 0 && modules.waiting.length === 0) {
    console.log('quantscope: every module is built');
    return;
  }
  const why = code === 0 ? 'the build ended without it' : `the build failed (exit ${code}): its errors are above`;
  console.error(`quantscope: ${modules.waiting.join(', ')} not built — ${why}; the page is still served`);
  modules.failAll(why);
});

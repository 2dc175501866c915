// The browser end-to-end tests (tests/e2e/*.test.mjs), as `npm test` runs them: two files at a
// time — one file keeps about 1.3 of this machine kind's 2 cores busy (the page's main thread, a
// worker, the test's node), so a second file fills the rest — then every file that had a failure
// once more, alone. A failure that is the product's shows again alone and fails the run; one that
// came from sharing the CPU with the other file (a timeout, a race against a busy machine) passes
// alone, and is printed as such at the end, never hidden.
//   node scripts/e2e.mjs [--concurrency N] [FILE...]   (default: every file of tests/e2e, N = 2)
import { run } from 'node:test';
import { tap } from 'node:test/reporters';
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';

const args = process.argv.slice(2);
const at = args.indexOf('--concurrency');
const concurrency = at >= 0 ? Number(args.splice(at, 2)[1]) : 2;
const files = (args.length ? args : readdirSync('tests/e2e').filter((f) => f.endsWith('.test.mjs')).sort().map((f) => `tests/e2e/${f}`))
  .map((f) => resolve(f));

// Runs `files` with `concurrency` files at once, the TAP report on stdout; resolves to the files
// with a failing test (or a failing hook, or a file that did not load).
function pass(files, concurrency) {
  return new Promise((done, fail) => {
    const failed = new Map();
    const stream = run({ files, concurrency });
    stream.on('test:fail', (d) => {
      if (!d.file) return;
      if (!failed.has(d.file)) failed.set(d.file, []);
      failed.get(d.file).push(d.name);
    });
    const report = stream.compose(tap);
    report.on('data', (chunk) => process.stdout.write(chunk));
    report.on('end', () => done(failed));
    report.on('error', fail);
  });
}

const first = await pass(files, concurrency);
if (first.size === 0) process.exit(0);
const again = [...first.keys()];
console.log(`\n# ${again.length} file(s) with a failure at ${concurrency} files at once, run again alone:`);
for (const [file, names] of first) console.log(`#   ${file}: ${names.join('; ')}`);
const second = await pass(again, 1);
if (second.size > 0) {
  console.log(`\n# failed again alone: ${[...second.keys()].join(', ')}`);
  process.exit(1);
}
console.log(`\n# passed alone (they failed only beside another file, under load): ${again.join(', ')}`);

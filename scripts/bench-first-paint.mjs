// First paint of the page in headless Chromium (issue 15: ≤ 300 ms on a warm cache): the page is
// opened once to fill the cache, then RUNS more times in the same browser; each load's
// first-contentful-paint and the resources fetched before it are read from the Performance API.
// A benchmark, printed, never asserted. Run after scripts/build-wasm.sh:
//   node scripts/bench-first-paint.mjs [RUNS]
import { launch } from '../tests/e2e/browser.mjs';

const runs = Number(process.argv[2] ?? 5);
const browser = await launch();
try {
  const page = await browser.page();
  const load = async () => {
    await page.goto(browser.url, { waitUntil: 'load' });
    return page.evaluate(() => new Promise((resolve) => {
      const done = () => {
        const paint = performance.getEntriesByName('first-contentful-paint')[0];
        if (!paint) return false;
        const before = performance.getEntriesByType('resource').filter((r) => r.startTime < paint.startTime);
        const nav = performance.getEntriesByType('navigation')[0];
        resolve({
          fcp: paint.startTime,
          domContentLoaded: nav.domContentLoadedEventEnd,
          before: before.map((r) => ({ name: new URL(r.name).pathname, bytes: r.transferSize, cached: r.transferSize === 0 })),
        });
        return true;
      };
      if (!done()) new PerformanceObserver(() => done()).observe({ type: 'paint', buffered: true });
    }));
  };
  const cold = await load();
  console.log(`cold: first-contentful-paint ${cold.fcp.toFixed(0)} ms, ${cold.before.length} resources before it ` +
    `(${cold.before.reduce((s, r) => s + r.bytes, 0)} B over the wire)`);
  const warm = [];
  for (let i = 0; i < runs; i++) warm.push(await load());
  const fcps = warm.map((w) => w.fcp).sort((a, b) => a - b);
  console.log(`warm (${runs} loads): first-contentful-paint median ${fcps[Math.floor(runs / 2)].toFixed(0)} ms, ` +
    `min ${fcps[0].toFixed(0)}, max ${fcps[runs - 1].toFixed(0)}`);
  const last = warm[warm.length - 1];
  console.log(`fetched before first paint: ${last.before.map((r) => r.name).join(', ') || 'nothing'}`);
  await page.close();
} finally {
  await browser.close();
}

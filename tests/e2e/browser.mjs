// Shared set-up for the end-to-end tests: serve the repo, launch Debian's Chromium headless.
import { chromium } from 'playwright-core';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../scripts/serve.mjs';

export const SCREENSHOTS = new URL('../../test-results/', import.meta.url).pathname;

// `modules`: as scripts/serve.mjs takes it, for a page served while modules are still building;
// `jsFlags`: V8 flags for the page (the benchmarks' `--no-liftoff`).
export async function launch({ modules, jsFlags } = {}) {
  const server = await startServer(0, { modules });
  const userDataDir = await mkdtemp(join(tmpdir(), 'quantscope-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
      ...(jsFlags ? [`--js-flags=${jsFlags}`] : [])],
    viewport: { width: 1280, height: 900 },
  });
  await mkdir(SCREENSHOTS, { recursive: true });
  const url = `http://127.0.0.1:${server.address().port}/`;
  return {
    url,
    context,
    async page() {
      const page = await context.newPage();
      page.errors = [];
      page.on('pageerror', (e) => page.errors.push(e.message));
      page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
      return page;
    },
    async close() {
      await context.close();
      server.close();
    },
  };
}

// Drops files onto `selector` as a user's drag and drop does: a real DataTransfer with Files.
// The bytes cross to the page as base64: as a JSON array of numbers a 5.5 MB GGUF took ~30 s.
export async function dropFiles(page, selector, files) {
  const dataTransfer = await page.evaluateHandle((files) => {
    const dt = new DataTransfer();
    for (const { name, base64 } of files) {
      const binary = atob(base64);
      const bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
      dt.items.add(new File([bytes], name));
    }
    return dt;
  }, files.map(({ name, bytes }) => ({ name, base64: Buffer.from(bytes).toString('base64') })));
  await page.dispatchEvent(selector, 'drop', { dataTransfer });
}

// A screenshot of the element `selector` as a clip of the whole page: unlike an element
// screenshot it does not wait for the element to hold still over two frames, which a loaded
// machine's layout of a long view can fail to give within the timeout (it failed a CI run).
export async function screenshotOf(page, selector, path) {
  const box = await page.locator(selector).boundingBox();
  if (!box) throw new Error(`${selector} is not on the page`);
  const scroll = await page.evaluate(() => ({ x: window.scrollX, y: window.scrollY }));
  await page.screenshot({ path, fullPage: true, clip: { x: box.x + scroll.x, y: box.y + scroll.y, width: box.width, height: box.height } });
}

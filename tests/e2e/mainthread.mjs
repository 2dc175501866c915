// How long the page's main thread is kept busy, two ways:
//   - wall time: PerformanceObserver 'longtask' entries (tasks of 50 ms or more, as the web
//     platform defines them). On a loaded machine a short task can stretch past 50 ms of wall
//     time while the thread waits for a CPU, so this is reported, not trusted alone;
//   - CPU time: Chrome's trace of the renderer main thread (CDP Tracing, 'RunTask' events with
//     their thread time `tdur`): how much work each task really did, whatever the machine load.
// Both first prove they work: a deliberate 200 ms busy loop must be seen by each.
const BUSY_MS = 200;

export async function watchMainThread(page) {
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.longTasks.push({ start: Math.round(e.startTime), duration: e.duration });
    }).observe({ type: 'longtask' });
  });
  const cdp = await page.context().newCDPSession(page);
  const events = [];
  cdp.on('Tracing.dataCollected', ({ value }) => events.push(...value));
  await cdp.send('Tracing.start', { categories: 'toplevel,devtools.timeline,disabled-by-default-devtools.timeline', transferMode: 'ReportEvents' });
  await new Promise((r) => setTimeout(r, 300));
  await page.evaluate((ms) => new Promise((done) => setTimeout(() => {
    const t = performance.now();
    while (performance.now() - t < ms);
    done();
  }, 0)), BUSY_MS);
  await page.waitForFunction(() => window.longTasks.length > 0, null, { timeout: 5000 });
  await page.evaluate(() => { window.longTasks = []; });

  return async function stop() {
    const longTasks = await page.evaluate(() => window.longTasks);
    const complete = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
    await cdp.send('Tracing.end');
    await complete;
    await cdp.detach();
    const main = events.filter((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`);
    const tasks = events
      .filter((e) => e.name === 'RunTask' && e.ph === 'X' && main.includes(`${e.pid}:${e.tid}`))
      .map((e) => ({ ts: e.ts, wallMs: e.dur / 1000, cpuMs: (e.tdur ?? e.dur) / 1000 }))
      .sort((a, b) => a.ts - b.ts);
    // The first task of BUSY_MS wall time or more is the self-check; everything after it counts.
    const check = tasks.findIndex((t) => t.wallMs >= BUSY_MS);
    if (check < 0) throw new Error('the trace did not see the busy-loop self-check');
    const measured = tasks.slice(check + 1);
    return {
      longTasks,
      longestWallMs: Math.max(0, ...longTasks.map((t) => t.duration)),
      tasks: measured.length,
      longestCpuMs: Math.max(0, ...measured.map((t) => t.cpuMs)),
      selfCheckCpuMs: tasks[check].cpuMs,
    };
  };
}

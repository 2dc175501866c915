// Which of a page's File/Blob bytes its main thread reads. The page promises that a dropped file
// is read only by the worker (the main thread only draws), so the e2e tests count every read the
// main thread starts: Blob.arrayBuffer/text/stream/bytes and FileReader.readAs*. Installed as an
// init script, so it sees the page from its first line; workers have their own globals and are
// not counted. Structural, not timed: a read either happened on the main thread or it did not.
export async function countMainThreadFileReads(page) {
  await page.addInitScript(() => {
    window.mainThreadFileReads = [];
    const note = (what, blob) => window.mainThreadFileReads.push({ what, bytes: blob?.size ?? 0, name: blob?.name ?? '' });
    for (const method of ['arrayBuffer', 'text', 'stream', 'bytes']) {
      const original = Blob.prototype[method];
      if (!original) continue;
      Blob.prototype[method] = function (...args) { note(`Blob.${method}`, this); return original.apply(this, args); };
    }
    for (const method of ['readAsArrayBuffer', 'readAsText', 'readAsDataURL', 'readAsBinaryString']) {
      const original = FileReader.prototype[method];
      FileReader.prototype[method] = function (blob, ...args) { note(`FileReader.${method}`, blob); return original.call(this, blob, ...args); };
    }
  });
  return () => page.evaluate(() => window.mainThreadFileReads);
}

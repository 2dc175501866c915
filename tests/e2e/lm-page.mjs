// Shared by the Language model section's e2e files: the Run view opened at a width, once the
// section's markup is there.
export async function openLm(browser, width = 1366) {
  const page = await browser.page();
  await page.setViewportSize({ width, height: 900 });
  await page.goto(`${browser.url}#run`);
  await page.waitForSelector('#lm-generate');
  return page;
}

// Presses Cancel inside the page in the same frame as the progress bar `progress` first passes
// `above`: a Playwright click after a poll lands a round trip later, and on a loaded machine the
// run's last chunk could finish in between, leaving a run that was never cancelled (it failed a
// run with two e2e files at once).
export async function cancelWhenPast(page, progress, above) {
  await page.waitForFunction(([selector, min]) => {
    if (!(Number(document.querySelector(selector)?.value) > min)) return false;
    document.querySelector('#lm-cancel').click();
    return true;
  }, [progress, above], { timeout: 120000 });
}

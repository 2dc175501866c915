// Shared by the Language model section's e2e files: the Run view opened at a width, once the
// section's markup is there.
export async function openLm(browser, width = 1366) {
  const page = await browser.page();
  await page.setViewportSize({ width, height: 900 });
  await page.goto(`${browser.url}#run`);
  await page.waitForSelector('#lm-generate');
  return page;
}

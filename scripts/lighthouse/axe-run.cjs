// Run axe-core (the copy Lighthouse ships) in the machine's Chromium against each URL and write the raw
// axe results (what `axe.run()` returns, the format @axe-core/cli and axe integrations save) as a JSON array.
// Usage: node axe-run.cjs OUT.json URL...   (CHROME_PATH selects the browser, default /usr/bin/chromium)
'use strict';
const fs = require('node:fs');
const puppeteer = require('puppeteer-core');
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

async function main() {
  const [out, ...urls] = process.argv.slice(2);
  if (!out || urls.length === 0) throw new Error('usage: node axe-run.cjs OUT.json URL...');
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROME_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const results = [];
  try {
    for (const url of urls) {
      const page = await browser.newPage();
      // Network idle: pages that render after fetching data (Swagger UI loads openapi.json) are complete.
      await page.goto(url, { waitUntil: 'networkidle0', timeout: 60000 });
      await page.addScriptTag({ content: axeSource });
      results.push(
        await page.evaluate(() =>
          // eslint-disable-next-line no-undef
          axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } })
        )
      );
      await page.close();
    }
  } finally {
    await browser.close();
  }
  fs.writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
}

main().catch((error) => {
  console.error(`error: ${error.message}`);
  process.exit(1);
});

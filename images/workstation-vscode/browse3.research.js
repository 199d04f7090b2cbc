const { chromium } = require('playwright-core');
const [base, token] = process.argv.slice(2);
const status = async () => (await (await fetch(`${base}/api/status`, { headers: { Authorization: `token ${token}` } })).json()).last_activity;
(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const page = await browser.newPage();
  await page.route('**/*', r => { const u = new URL(r.request().url()); return ['127.0.0.1', 'localhost'].includes(u.hostname) ? r.continue() : r.abort(); });
  await page.goto(`${base}/lab?token=${token}`); await page.waitForSelector('.jp-LauncherCard', { timeout: 60000 });
  const samples = [];
  for (let i = 0; i < 4; i++) { await page.waitForTimeout(15000); samples.push([new Date().toISOString().slice(11, 19), (await status()).slice(11, 19)]); }
  console.log('idle Lab tab only, [now, last_activity]:', JSON.stringify(samples)); await browser.close();
})();

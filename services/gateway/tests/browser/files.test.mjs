// Files in the chat (issue 19, item 2) in a real Chromium: the shopper attaches an image (a
// thumbnail on both sides), the agent a PDF (a download link on both sides).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { consoleAvailable, launchChromium, shopperThroughGate } from './support.mjs';

const LONG = 15000;

/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGMAAQAABQABDQottAAAAABJRU5ErkJggg==', 'base64');
const PDF = Buffer.from('%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n');

test('the shopper sends an image and the agent a PDF', async () => {
  const browser = await launchChromium();
  try {
    const problems = [];
    const agent = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    agent.on('pageerror', (e) => problems.push(`console page: ${e.message}`));
    await consoleAvailable(agent, 'ann@demo.showroom.test', 'Ann Larson');
    const s = await shopperThroughGate(browser, problems, { first: 'Fiona', last: 'Files', reach: 'fiona.files@example.com' });
    await s.botSays('Someone will be right with you', LONG);
    const entry = agent.locator('#list-incoming li', { hasText: 'Fiona' });
    await entry.locator('button', { hasText: 'Respond' }).click({ timeout: LONG });
    await agent.locator('#log li', { hasText: 'fiona.files@example.com' }).waitFor({ timeout: LONG });
    await s.page.locator('.log li.system', { hasText: 'Ann Larson joined the chat.' }).waitFor({ timeout: LONG });

    // The shopper attaches an image: a thumbnail on both sides.
    await s.page.locator('input[type=file]').setInputFiles({ name: 'my car.png', mimeType: 'image/png', buffer: PNG });
    const mine = s.page.locator('.log li.shopper', { hasText: 'my car.png' }).locator('img.thumb');
    await mine.waitFor({ timeout: LONG });
    await s.page.waitForFunction(() => {
      const host = [...document.querySelectorAll('*')].find((e) => e.shadowRoot && e.shadowRoot.querySelector('img.thumb'));
      const img = host && host.shadowRoot && host.shadowRoot.querySelector('img.thumb');
      return !!img && img instanceof HTMLImageElement && img.complete && img.naturalWidth === 1;
    }, null, { timeout: LONG });
    const thumb = agent.locator('#log li.shopper', { hasText: 'my car.png' }).locator('img.thumb');
    await thumb.waitFor({ timeout: LONG });
    await agent.waitForFunction(() => {
      const img = document.querySelector('#log img.thumb');
      return img instanceof HTMLImageElement && img.complete && img.naturalWidth === 1;
    }, null, { timeout: LONG });

    // The agent attaches a PDF: a download link, no thumbnail, on both sides.
    await agent.locator('#reply-file').setInputFiles({ name: 'quote.pdf', mimeType: 'application/pdf', buffer: PDF });
    const link = agent.locator('#log li.agent a.dl', { hasText: 'quote.pdf' });
    await link.waitFor({ timeout: LONG });
    assert.match(await link.getAttribute('href'), /^\/api\/v1\/attachments\//);
    const theirs = s.page.locator('.log li.agent', { hasText: 'quote.pdf' });
    await theirs.locator('a.dl').waitFor({ timeout: LONG });
    assert.equal(await theirs.locator('img').count(), 0);
    const [download] = await Promise.all([s.page.waitForEvent('download', { timeout: LONG }), theirs.locator('a.dl').click()]);
    assert.equal(download.suggestedFilename(), 'quote.pdf');

    // The agent's download link works with the session.
    const got = await agent.evaluate(async (href) => (await fetch(href)).status, await link.getAttribute('href'));
    assert.equal(got, 200);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

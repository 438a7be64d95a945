// The pages work under their Content-Security-Policy (services/gateway/src/headers.rs), in a real
// Chromium: a manager's console (its socket, every tab and Admin section, a headshot chosen,
// cropped through a blob: URL, saved and shown from the API) and a shopper's widget on /demo
// (its socket, a chat with the bot). Any violation Chromium reports, as a
// `securitypolicyviolation` event or a console line, fails the test; and an inline script added
// to each page must be refused, which fails when the policy is missing.
// Run by libs/testkit/tests/browser.rs against a real stack seeded with the demo group, which
// sets SHOWROOM_BASE_URL and SHOWROOM_NODE_MODULES.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium } from './support.mjs';

const BASE = process.env.SHOWROOM_BASE_URL;
const LONG = 15000;
const MANAGER = { email: 'maria@demo.showroom.test', name: 'Maria Lopez' };

/**
 * A new page whose CSP violations land in `violations`: the page's own events (they cross
 * shadow roots) and Chromium's console lines about a refused load.
 */
async function watchedPage(browser, violations, options) {
  const context = await browser.newContext(options);
  await context.exposeBinding('__cspViolation', (source, v) => { violations.push(`${source.page.url()}: ${v}`); });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      // @ts-ignore: the binding above
      window.__cspViolation(`${e.effectiveDirective} refused ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
    }, true);
  });
  const page = await context.newPage();
  page.on('console', (m) => { if (/Content.Security.Policy/i.test(m.text())) violations.push(`${page.url()} console: ${m.text()}`); });
  return page;
}

/** Adds an inline script to the page: it must be refused and reported (the report is taken out of `violations`). */
async function inlineScriptIsRefused(page, violations) {
  const before = violations.length;
  const ran = await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true;';
    document.head.append(s);
    // @ts-ignore: set by the script, if it runs
    return window.__inlineRan === true;
  });
  assert.equal(ran, false, `an inline script ran on ${page.url()}: no script-src policy`);
  // The violation's event comes in a task of its own, and Chromium's console line after it.
  for (let i = 0; i < 50 && violations.length === before; i++) await page.waitForTimeout(20);
  await page.waitForTimeout(500);
  const mine = violations.splice(before);
  assert.ok(mine.some((v) => v.includes('script-src')), `the refusal was reported: ${mine.join('\n')}`);
}

test('the console and the demo page work under their CSP, with no violation', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');
  const browser = await launchChromium();
  const violations = [];
  const problems = [];
  try {
    // ---- the console, as a manager ----
    const page = await watchedPage(browser, violations, { viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (e) => problems.push(`console page: ${e.message}`));
    const res = await page.goto(`${BASE}/console`);
    const csp = res.headers()['content-security-policy'] || '';
    assert.match(csp, /frame-ancestors 'none'/);
    await inlineScriptIsRefused(page, violations);
    await page.fill('#email', MANAGER.email);
    await page.fill('#password', 'showroom-demo');
    await page.click('#login-btn');
    await page.locator('#app').waitFor({ state: 'visible', timeout: LONG });
    // The socket (connect-src 'self' covers ws: of the same host) is up.
    await page.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: LONG });
    await page.locator('#agent-name', { hasText: MANAGER.name }).waitFor({ timeout: LONG });
    for (const tab of ['#tab-board', '#tab-leads', '#tab-chats']) {
      await page.click(tab);
      await page.waitForTimeout(300);
    }
    await page.click('#tab-admin');
    for (const name of ['Dashboard', 'Rooftops & departments', 'Agents', 'Websites', 'CRM', 'Payment estimates']) {
      await page.locator('#admin-root .a-nav button', { hasText: name }).click();
      await page.waitForFunction(() => !document.querySelector('#admin-body .a-loading'), null, { timeout: LONG });
      await page.waitForTimeout(200);
    }

    // A headshot: the file is read through a blob: URL (img-src blob:), saved, and then shown
    // in the header from /api/v1/agents/{id}/photo (img-src 'self'). Removed again at the end.
    await page.click('#profile-open');
    const dialog = page.locator('#profile-dialog');
    await dialog.locator('#profile-first').waitFor({ timeout: LONG });
    const png = await page.evaluate(() => {
      const c = document.createElement('canvas');
      c.width = 300; c.height = 300;
      const x = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
      x.fillStyle = '#1a56db'; x.fillRect(0, 0, 300, 300);
      return c.toDataURL('image/png').split(',')[1];
    });
    await dialog.locator('#profile-file').setInputFiles({ name: 'csp.png', mimeType: 'image/png', buffer: Buffer.from(png, 'base64') });
    const upload = dialog.locator('#profile-upload');
    await page.waitForFunction(() => !(/** @type {HTMLButtonElement} */ (document.getElementById('profile-upload'))).disabled, null, { timeout: LONG });
    await upload.click();
    await dialog.locator('#profile-photo-state', { hasText: 'Your photo is saved.' }).waitFor({ timeout: LONG });
    const photo = page.locator('#agent-photo');
    await photo.waitFor({ state: 'visible', timeout: LONG });
    await page.waitForFunction(() => {
      const img = /** @type {HTMLImageElement} */ (document.getElementById('agent-photo'));
      return img.complete && img.naturalWidth > 0;
    }, null, { timeout: LONG });
    const removed = await page.evaluate(async () => (await fetch('/api/v1/me/photo', { method: 'DELETE' })).status);
    assert.ok(removed < 300, `the test's headshot is removed (${removed})`);

    // ---- the demo page and its widget ----
    const shopper = await watchedPage(browser, violations, { viewport: { width: 360, height: 740 }, locale: 'en-US' });
    shopper.on('pageerror', (e) => problems.push(`demo page: ${e.message}`));
    const demo = await shopper.goto(`${BASE}/demo`);
    assert.match(demo.headers()['content-security-policy'] || '', /script-src 'self'/);
    await inlineScriptIsRefused(shopper, violations);
    await shopper.click('button.launch');
    await shopper.locator('.pick .dept', { hasText: 'Sales' }).click();
    // The widget's socket is up: the bot greets.
    await shopper.locator('.log li.bot').first().waitFor({ timeout: LONG });
    await shopper.waitForTimeout(500);

    assert.deepEqual(violations, [], 'CSP violations');
    assert.deepEqual(problems, []);
  } catch (e) {
    // A refused load often shows first as a page that does not work: say what was refused.
    if (!violations.length) throw e;
    throw new Error(`${e instanceof Error ? e.message : e}\nCSP violations so far:\n${violations.join('\n')}`, { cause: e });
  } finally {
    await browser.close();
  }
});

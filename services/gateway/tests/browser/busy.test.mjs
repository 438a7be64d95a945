// A shopper's start while the router is away, in a real Chromium: the widget says everyone is
// busy for a moment, tries the same start again every few seconds (the department buttons stay
// off, so nothing starts twice), and the chat starts once the router is back, without a second
// click.
//
// Run by libs/testkit/tests/e2e/browser.rs (`a_start_refused_while_the_router_is_away_is_tried_again`)
// against a stack seeded with the demo group whose router is stopped. This file writes
// SHOWROOM_SIGNAL_FILE once the widget shows the notice; the test then starts the router again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { launchChromium, shot } from './support.mjs';

const BASE = process.env.SHOWROOM_BASE_URL;
const SIGNAL = process.env.SHOWROOM_SIGNAL_FILE;
const BUSY = 'Everyone is busy for a moment. Connecting you…';

test('a start refused while the router is away is tried again until the chat starts', async () => {
  assert.ok(SIGNAL, 'SHOWROOM_SIGNAL_FILE names the file to write once the start is refused');
  const browser = await launchChromium();
  const problems = [];
  try {
    const page = await (await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'en-US' })).newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${BASE}/demo`);
    await page.click('button.launch');
    const sales = page.locator('.pick .dept', { hasText: 'Sales' });
    await sales.click();
    // The gateway waits 8 s for the router, then answers `unavailable`: the widget says why
    // the shopper waits, and keeps the start to itself.
    await page.getByText(BUSY).waitFor({ timeout: 30000 });
    assert.ok(await sales.isDisabled(), 'the department buttons stay off while the start is tried again');
    await shot(page, 'busy-start');
    writeFileSync(SIGNAL, 'refused');
    // The router is back: the same start goes through and the Lead Gate asks its first question.
    await page.locator('.log li.bot', { hasText: "What's your first name?" }).last().waitFor({ timeout: 60000 });
    assert.equal(await page.getByText(BUSY).count(), 0, 'the notice goes once the chat has started');
  } finally {
    await browser.close();
  }
  assert.deepEqual(problems, []);
});

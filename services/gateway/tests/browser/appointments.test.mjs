// Appointments (issue 20, item 1) in a real Chromium: the agent offers times in the chat, the
// shopper books one in the widget's slot picker; the agent books another from the Details
// column (a day and a free slot) and sees both, and the Appointments view lists them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { consoleAvailable, launchChromium, shopperThroughGate } from './support.mjs';

const LONG = 15000;

/** The Monday at least two days ahead, as YYYY-MM-DD in Chicago (the demo Honda's zone). */
function nextMonday() {
  const d = new Date(Date.now() + 2 * 86400000);
  while (d.toLocaleDateString('en-US', { timeZone: 'America/Chicago', weekday: 'short' }) !== 'Mon') d.setTime(d.getTime() + 86400000);
  return d.toLocaleDateString('en-CA', { timeZone: 'America/Chicago' });
}

test('the shopper picks an offered time, the agent books another', async () => {
  const browser = await launchChromium();
  try {
    const problems = [];
    const agent = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    agent.on('pageerror', (e) => problems.push(`console page: ${e.message}`));
    await consoleAvailable(agent, 'ann@demo.showroom.test', 'Ann Larson');
    const s = await shopperThroughGate(browser, problems, { first: 'Ada', last: 'Appt', reach: 'ada.appt@example.com' });
    await s.botSays('Someone will be right with you', LONG);
    await agent.locator('#list-incoming li', { hasText: 'Ada' }).locator('button', { hasText: 'Respond' }).click({ timeout: LONG });
    await s.page.locator('.log li.system', { hasText: 'Ann Larson joined the chat.' }).waitFor({ timeout: LONG });

    // The offer: a 📅 line in the reply box, sent; the widget shows the free times under it.
    await agent.locator('#appt-offer').click();
    assert.match(await agent.inputValue('#reply-text'), /^📅/);
    await agent.press('#reply-text', 'Enter');
    const times = s.page.locator('.slots button');
    await times.first().waitFor({ timeout: LONG });
    const picked = await times.first().textContent();
    await times.first().click();
    await s.page.locator('.slots p', { hasText: 'Booked: ' + picked }).waitFor({ timeout: LONG });
    // The agent's Details column shows it without a reload (it watches after an offer).
    await agent.locator('#appt-list li', { hasText: 'Ada Appt' }).first().waitFor({ timeout: LONG });

    // The agent books next Monday's first free slot from the Details column.
    await agent.fill('#appt-day', nextMonday());
    await agent.dispatchEvent('#appt-day', 'change');
    await agent.waitForFunction(() => {
      const sel = document.querySelector('#appt-slot');
      return sel instanceof HTMLSelectElement && sel.options.length > 0;
    }, null, { timeout: LONG });
    // The agent's booking is the one its own POST answered. (Not "the line that was not there
    // before": the Details column shows the shopper's booking only once it reloads, so on the
    // days when both fall on different weeks the test used to move the shopper's instead.)
    const [booked] = await Promise.all([
      agent.waitForResponse((r) => r.request().method() === 'POST' && /\/api\/v1\/conversations\/[^/]+\/appointments$/.test(r.url()), { timeout: LONG }),
      agent.click('#appt-book'),
    ]);
    const mine = /** @type {{id: string, booked_by: string}} */ (await booked.json());
    assert.equal(mine.booked_by, 'agent');
    await agent.locator('#appt-status', { hasText: 'Booked.' }).waitFor({ timeout: LONG });
    await agent.waitForFunction(() => document.querySelectorAll('#appt-list li').length === 2, null, { timeout: LONG });
    assert.equal(await agent.locator(`#appt-list li[data-key="${mine.id}"]`).count(), 1, 'the agent\'s booking is listed');

    // It moves to the next free time of that day: Move on its line, after picking the time.
    const second = await agent.evaluate(() => {
      const sel = /** @type {HTMLSelectElement} */ (document.querySelector('#appt-slot'));
      return sel.options.length > 1 ? sel.options[1].value : '';
    });
    assert.ok(second, 'a second free slot that Monday');
    await agent.selectOption('#appt-slot', second);
    const moved = agent.locator(`#appt-list li[data-key="${mine.id}"]`);
    const before = await moved.locator('span').first().textContent();
    await moved.locator('.appt-move').click();
    await agent.locator('#appt-status', { hasText: 'Moved.' }).waitFor({ timeout: LONG });
    await agent.waitForFunction(([k, b]) => {
      const li = document.querySelector(`#appt-list li[data-key="${k}"]`);
      const span = li && li.querySelector('span');
      return !!span && span.textContent !== b && !li.classList.contains('appt-cancelled');
    }, [mine.id, before], { timeout: LONG });

    // The chat ends (the tests after this one need Ann free).
    await agent.click('#end');
    await s.page.locator('text=/chat has ended/i').first().waitFor({ timeout: LONG });

    // The Appointments view lists the rooftop's week.
    await agent.click('#tab-appts');
    await agent.locator('#appts-rooftop option', { hasText: 'Showroom Honda' }).waitFor({ state: 'attached', timeout: LONG });
    await agent.selectOption('#appts-rooftop', { label: 'Showroom Honda' });
    await agent.dispatchEvent('#appts-rooftop', 'change');
    await agent.locator('#appts-rows li').first().waitFor({ timeout: LONG });
    assert.ok((await agent.locator('#appts-rows li', { hasText: 'Ada Appt' }).count()) >= 1);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

// Canned responses in the console's reply box, in a real Chromium: the agent types `/ho`, the
// picker lists the matching responses (not the others), ArrowDown and Enter put the chosen one
// in the box with its placeholders filled for this chat (nothing is sent), the agent edits it
// and sends it, and the shopper receives the edited text. Escape closes the picker. Run by
// libs/testkit/tests/e2e/canned.rs, which seeds the demo group with the responses `holiday`,
// `hours` and `trade`, and gives Showroom Honda a phone number.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, shot, shopperThroughGate, consoleAvailable } from './support.mjs';

const BASE = process.env.SHOWROOM_BASE_URL;
const LONG = 15000;
const FILLED = 'Hi Maria, Showroom Honda is open 9 to 6; call (312) 555-0100. The 2023 Honda Civic is ready. Ann';

test('an agent picks a canned response with the keyboard, edits it and sends it', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');
  const browser = await launchChromium();
  const problems = [];
  try {
    const agent = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    agent.on('pageerror', (e) => problems.push(`console page: ${e.message}`));
    await consoleAvailable(agent, 'ann@demo.showroom.test', 'Ann Larson', LONG);
    const shopper = await shopperThroughGate(browser, problems, { first: 'Maria', last: 'Lopez', reach: 'maria@example.com' }, LONG);
    await shopper.botSays('Someone will be right with you');

    const respond = agent.locator('#list-incoming button', { hasText: 'Respond' });
    await respond.waitFor({ timeout: LONG });
    await respond.click();
    const box = agent.locator('#reply-text');
    await box.waitFor({ timeout: LONG });
    const list = agent.locator('#canned-list');
    const options = list.locator('[role="option"]');

    // Nothing matches: said so; Escape closes the picker and leaves the text.
    await box.click();
    await box.pressSequentially('/zz');
    await list.locator('.canned-none').waitFor({ timeout: LONG });
    await box.press('Escape');
    await list.waitFor({ state: 'hidden', timeout: LONG });
    assert.equal(await box.inputValue(), '/zz');
    await box.fill('');

    // `/ho`: holiday and hours, not trade; the first is chosen; ArrowDown moves to hours.
    await box.pressSequentially('/ho');
    await options.nth(1).waitFor({ timeout: LONG });
    assert.deepEqual(await list.locator('.canned-shortcut').allTextContents(), ['/holiday', '/hours']);
    assert.equal(await options.nth(0).getAttribute('aria-selected'), 'true');
    assert.equal(await box.getAttribute('aria-expanded'), 'true');
    await box.press('ArrowDown');
    assert.equal(await options.nth(1).getAttribute('aria-selected'), 'true');
    assert.equal(await box.getAttribute('aria-activedescendant'), 'canned-1');
    await shot(agent, 'canned-picker');
    await box.press('Enter');
    await list.waitFor({ state: 'hidden', timeout: LONG });

    // Filled for this chat and not sent: the agent edits it, then sends it.
    assert.equal(await box.inputValue(), FILLED);
    assert.equal(await agent.locator('#log li', { hasText: 'open 9 to 6' }).count(), 0, 'Enter inserted, it did not send');
    await box.press('End');
    await box.pressSequentially(' See you soon!');
    await box.press('Enter');
    await shopper.page.locator('.log li', { hasText: `${FILLED} See you soon!` }).waitFor({ timeout: LONG });
    await agent.locator('#log li', { hasText: 'See you soon!' }).waitFor({ timeout: LONG });
    assert.equal(await box.inputValue(), '');
    await shot(shopper.page, 'canned-received');

    // Tab inserts too.
    await box.pressSequentially('/tr');
    await options.first().waitFor({ timeout: LONG });
    await box.press('Tab');
    assert.equal(await box.inputValue(), 'Bring your trade-in, Maria.');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

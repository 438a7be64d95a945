// Canned responses in the console's reply box, in a real Chromium: the agent types `/ho`, the
// picker lists the matching responses (not the others), ArrowDown and Enter put the chosen one
// in the box with its placeholders filled for this chat (nothing is sent), the agent edits it
// and sends it, and the shopper receives the edited text. Escape closes the picker. Run by
// libs/testkit/tests/e2e/canned.rs, which seeds the demo group with the responses `holiday`,
// `hours` and `trade`, and gives Showroom Honda a phone number.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, shot, shopperThroughGate, consoleAvailable, openAdmin } from './support.mjs';

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

test('a manager keeps the group’s and the rooftops’ canned responses, an agent their own', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');
  const browser = await launchChromium();
  const problems = [];
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.on('pageerror', (e) => problems.push(`admin page: ${e.message}`));
    page.on('dialog', (d) => d.accept());
    const nav = await openAdmin(page, BASE, 'maria@demo.showroom.test', 'showroom-demo', LONG);
    await nav.locator('button', { hasText: 'Canned responses' }).click();
    const cards = page.locator('#admin-body section.c-card');
    const labels = () => cards.evaluateAll((n) => n.map((c) => c.getAttribute('aria-label')));
    await cards.first().waitFor({ timeout: LONG });
    assert.deepEqual(await labels(), ['/holiday', '/hours', '/trade']);

    // An unknown placeholder is named next to the text; a shortcut the group has, next to it.
    const add = page.locator('section.c-new');
    const error = add.locator('.a-err:not([hidden])');
    await add.locator('select.c-owner').selectOption({ label: 'The whole group' });
    await add.locator('input.c-shortcut').fill('hours');
    await add.locator('input.c-title').fill('Toyota hours');
    await add.locator('textarea.c-en').fill('Hi {shopper.name}, we open at 8.');
    await add.locator('button[type="submit"]').click();
    await error.filter({ hasText: '{shopper.name}' }).waitFor({ timeout: LONG });
    await add.locator('textarea.c-en').fill('Hi {shopper.first_name}, {rooftop.name} opens at 8.');
    await add.locator('button[type="submit"]').click();
    await error.filter({ hasText: 'shortcut' }).waitFor({ timeout: LONG });
    // For one rooftop, the same shortcut is fine.
    await add.locator('select.c-owner').selectOption({ label: 'Showroom Toyota' });
    await add.locator('button[type="submit"]').click();
    await page.waitForFunction(() => document.querySelectorAll('#admin-body section.c-card').length === 4, null, { timeout: LONG });
    assert.deepEqual(await labels(), ['/holiday', '/hours', '/hours', '/trade']);
    assert.equal(await cards.nth(2).locator('.c-whose').innerText(), 'Showroom Toyota');
    await shot(page, 'canned-admin');

    // Changed and deleted in place.
    const trade = cards.nth(3);
    await trade.locator('input.c-title').fill('Trade-ins welcome');
    await trade.locator('button[type="submit"]').click();
    await trade.locator('.a-status', { hasText: 'Saved' }).waitFor({ timeout: LONG });
    await cards.nth(0).locator('button.danger').click();
    await page.waitForFunction(() => document.querySelectorAll('#admin-body section.c-card').length === 3, null, { timeout: LONG });
    assert.deepEqual(await labels(), ['/hours', '/hours', '/trade']);

    // An agent's own, under Profile.
    const agent = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    agent.on('pageerror', (e) => problems.push(`console page: ${e.message}`));
    await consoleAvailable(agent, 'ann@demo.showroom.test', 'Ann Larson', LONG);
    await agent.click('#profile-open');
    const mine = agent.locator('#profile-dialog section.p-canned');
    await mine.locator('.c-none', { hasText: 'No canned responses yet.' }).waitFor({ timeout: LONG });
    assert.equal(await mine.locator('select.c-owner').count(), 0, 'no owner to choose');
    await mine.locator('input.c-shortcut').fill('thanks');
    await mine.locator('input.c-title').fill('Thank you');
    await mine.locator('textarea.c-en').fill('Thanks, {shopper.first_name}!');
    await mine.locator('textarea.c-es').fill('¡Gracias, {shopper.first_name}!');
    await mine.locator('section.c-new button[type="submit"]').click();
    await mine.locator('section.c-card[aria-label="/thanks"]').waitFor({ timeout: LONG });
    assert.equal(await mine.locator('section.c-card .c-whose').innerText(), 'Yours');
    await shot(agent, 'canned-profile');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

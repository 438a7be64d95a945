// The Live Agent Status board in a real Chromium: a manager watches it while an agent changes
// status, sets a colleague's status from it, and sees an agent go offline when her console closes.
// Run against a real stack seeded with the demo group (libs/rest/src/demo.rs), with
// SHOWROOM_BASE_URL and SHOWROOM_NODE_MODULES (where deploy/install.sh put playwright-core) set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium } from './support.mjs';


const BASE = process.env.SHOWROOM_BASE_URL;
const SHOTS = process.env.SHOWROOM_SCREENSHOTS; // optional: where to save screenshots
const PASSWORD = 'showroom-demo';
const MANAGER = 'maria@demo.showroom.test';
const AGENT = 'ann@demo.showroom.test';
const LONG = 10000; // generous, for things that do not have to be quick

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

async function login(page, email, name) {
  await page.goto(`${BASE}/console`);
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  await page.click('#login-btn');
  await page.locator('#app').waitFor({ state: 'visible', timeout: LONG });
  await page.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: LONG });
  if (name) await page.locator('#agent-name', { hasText: name }).waitFor({ timeout: LONG });
}

// An agent's row on the board (an agent is listed once per section they cover; Ann and David
// are in Front End only).
const row = (page, name) => page.locator('#view-board .board-row', { hasText: name }).first();
const statusOf = (page, name) => row(page, name).locator('.row-status-label');

// Waits until the agent's row shows this effective status; fails after `timeout` ms.
async function waitForStatus(page, name, label, timeout) {
  await row(page, name).locator('.row-status-label', { hasText: new RegExp(`^${label}$`) }).waitFor({ timeout });
  assert.equal((await statusOf(page, name).innerText()).trim(), label);
}

test('a manager watches and sets agent statuses on the Live Agent Status board', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');
  const browser = await launchChromium();
  const problems = [];
  try {
    // Maria (a manager) logs in and opens the Live Agent Status tab.
    const maria = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    maria.on('pageerror', (e) => problems.push(`maria's console: ${e.message}`));
    await login(maria, MANAGER, 'Maria Lopez');
    assert.equal(await maria.getAttribute('#tab-chats', 'aria-selected'), 'true');
    await maria.click('#tab-board');
    assert.equal(await maria.getAttribute('#tab-board', 'aria-selected'), 'true');
    await maria.locator('#view-board').waitFor({ state: 'visible' });
    assert.equal(await maria.locator('#view-chats').isVisible(), false);
    await maria.locator('#board-updated', { hasText: /^Updated \d\d:\d\d:\d\d/ }).waitFor({ timeout: LONG });

    // Sections come in department order; every demo agent is on the board (Sam, the admin, who
    // covers no department, under No department).
    const sections = await maria.locator('#view-board .board-section h2 .section-name').allTextContents();
    assert.deepEqual(sections, ['Front End', 'Back End', 'No department']);
    for (const name of ['Ann Larson', 'David Cowan', 'Katie Ungar', 'Maria Lopez', 'Sam Patel']) await row(maria, name).waitFor({ timeout: LONG });
    // A manager gets a status select on colleagues' rows, not on her own.
    assert.equal(await row(maria, 'Maria Lopez').locator('select').count(), 0);
    assert.equal(await row(maria, 'David Cowan').locator('select').count(), 1);
    assert.match(await row(maria, 'Ann Larson').locator('.row-rooftops').innerText(), /Showroom Honda.*Showroom Toyota|Showroom Toyota.*Showroom Honda/);
    assert.match(await row(maria, 'David Cowan').locator('.row-chats').innerText(), /^0 active chats$/);

    // Filtering by department shows only that department's section.
    const service = await maria.locator('#board-department option', { hasText: /Service/ }).first().getAttribute('value');
    await maria.selectOption('#board-department', service);
    assert.deepEqual(await maria.locator('#view-board .board-section .section-name').allTextContents(), ['Back End']);
    assert.equal(await maria.locator('#view-board .board-row', { hasText: 'Ann Larson' }).count(), 0);
    await maria.selectOption('#board-department', '');
    await row(maria, 'Ann Larson').waitFor();

    // Ann (an agent) logs in in another browser; the board has no status selects for her.
    const ann = await (await browser.newContext({ viewport: { width: 360, height: 740 } })).newPage();
    ann.on('pageerror', (e) => problems.push(`ann's console: ${e.message}`));
    await login(ann, AGENT, 'Ann Larson');
    await ann.click('#tab-board');
    await row(ann, 'David Cowan').waitFor({ timeout: LONG });
    assert.equal(await ann.locator('#view-board .board-row select').count(), 0);
    await shot(ann, 'board-agent-360');
    // Nothing sticks out sideways on a 360-pixel phone.
    assert.ok(await ann.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
      'the board fits 360 px without scrolling sideways');
    await ann.click('#tab-chats');

    // Ann sets herself Away in the header; Maria's board shows it within 2 s.
    await ann.selectOption('#status', 'available');
    await waitForStatus(maria, 'Ann Larson', 'Available', LONG);
    await ann.selectOption('#status', 'away');
    await waitForStatus(maria, 'Ann Larson', 'Away', 2000);
    await shot(maria, 'board-ann-away');

    // Maria sets David (not connected) to Do Not Disturb from his row: his chosen status changes,
    // his effective status stays Offline, and the row says so.
    await row(maria, 'David Cowan').locator('select').selectOption('dnd');
    await row(maria, 'David Cowan').locator('.row-note', { hasText: /Do Not Disturb/ }).waitFor({ timeout: LONG });
    assert.match(await row(maria, 'David Cowan').locator('.row-note').innerText(), /chose Do Not Disturb/);
    assert.equal((await statusOf(maria, 'David Cowan').innerText()).trim(), 'Offline');
    assert.equal(await row(maria, 'David Cowan').locator('select').inputValue(), 'dnd');
    assert.equal(await maria.locator('#banner').isVisible(), false, 'no error banner');

    // Ann closes her console; after the reload grace she is Offline on the board (still chose Away).
    await ann.close();
    await waitForStatus(maria, 'Ann Larson', 'Offline', LONG);
    assert.match(await row(maria, 'Ann Larson').locator('.row-note').innerText(), /chose Away/);
    await shot(maria, 'board-ann-gone');

    // The tab is remembered across a reload, and the arrow keys move between tabs.
    await maria.reload();
    await maria.locator('#view-board').waitFor({ state: 'visible', timeout: LONG });
    assert.equal(await maria.getAttribute('#tab-board', 'aria-selected'), 'true');
    await row(maria, 'David Cowan').locator('.row-note', { hasText: /Do Not Disturb/ }).waitFor({ timeout: LONG });
    await maria.focus('#tab-board');
    await maria.keyboard.press('ArrowLeft');
    assert.equal(await maria.getAttribute('#tab-chats', 'aria-selected'), 'true');
    assert.equal(await maria.evaluate(() => document.activeElement.id), 'tab-chats');
    await maria.locator('#view-chats').waitFor({ state: 'visible' });
    await maria.keyboard.press('ArrowRight');
    await maria.locator('#view-board').waitFor({ state: 'visible' });

    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

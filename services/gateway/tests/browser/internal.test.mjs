// Internal chats (Colleagues) in a real Chromium: two agents of the demo group chat with each
// other from /console. Run by libs/testkit/tests/browser.rs against a real stack seeded with the
// demo group (libs/rest/src/demo.rs), with SHOWROOM_BASE_URL and SHOWROOM_NODE_MODULES set.
// The browser test files run one at a time (--test-concurrency=1): this one logs in as Katie and
// Ann; David never logs in here, so he is Offline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, shot } from './support.mjs';


const BASE = process.env.SHOWROOM_BASE_URL;
const PASSWORD = 'showroom-demo';
const X = { email: 'katie@demo.showroom.test', name: 'Katie Ungar' };
const Y = { email: 'ann@demo.showroom.test', name: 'Ann Larson' };
const OFFLINE = 'David Cowan';
const HOSTILE = '<img src=x onerror="window.pwned=1"> can you take the trade-in at 3?';
const LONG = 10000;

async function login(page, who) {
  await page.goto(`${BASE}/console`);
  await page.fill('#email', who.email);
  await page.fill('#password', PASSWORD);
  await page.click('#login-btn');
  await page.locator('#app').waitFor({ state: 'visible', timeout: LONG });
  await page.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: LONG });
  await page.locator('#agent-name', { hasText: who.name }).waitFor({ timeout: LONG });
  await page.selectOption('#status', 'available');
}

const pick = (page, name) => page.locator('#inew-list .pick-item', { hasText: name });
const chatItem = (page, title) => page.locator('#list-internal button.item', { hasText: title });
const line = (page, text) => page.locator('#ilog li', { hasText: text });

test('two agents chat with each other under Colleagues', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');
  const browser = await launchChromium();
  const problems = [];
  try {
    const x = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    x.on('pageerror', (e) => problems.push(`${X.name}'s console: ${e.message}`));
    const y = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    y.on('pageerror', (e) => problems.push(`${Y.name}'s console: ${e.message}`));
    await login(x, X);
    await login(y, Y);

    // X opens New chat: colleagues with their statuses; Ann is Available, David (Offline) is
    // listed but cannot be chosen, with a note.
    await x.click('#inew-open');
    await x.locator('#inew').waitFor({ state: 'visible' });
    assert.equal(await x.getAttribute('#inew-open', 'aria-expanded'), 'true');
    await pick(x, Y.name).locator('input:not([disabled])').waitFor({ timeout: LONG });
    await pick(x, Y.name).locator('.row-status-label', { hasText: 'Available' }).waitFor({ timeout: LONG });
    const david = pick(x, OFFLINE);
    await david.locator('.pick-note', { hasText: /Offline/ }).waitFor({ timeout: LONG });
    assert.equal(await david.locator('input').isDisabled(), true, 'an Offline colleague cannot be chosen');
    assert.equal(await pick(x, X.name).count(), 0, 'one does not chat with oneself');

    // Starting with nobody chosen is refused in the form.
    await x.click('#inew-start');
    await x.locator('#inew-error', { hasText: /Choose at least one colleague/ }).waitFor();
    assert.equal(await x.getAttribute('#inew-error', 'role'), 'alert');
    // Were David ticked anyway (a stale list), the server's refusal is shown in the form.
    await david.locator('input').evaluate((el) => { el.disabled = false; el.checked = true; el.form.requestSubmit(); });
    await x.locator('#inew-error', { hasText: /David Cowan cannot be reached/ }).waitFor({ timeout: LONG });
    assert.equal(await x.locator('#inew').isVisible(), true, 'the form stays open');
    await shot(x, 'internal-new-refused');
    await david.locator('input').evaluate((el) => { el.checked = false; el.disabled = true; });

    // X chooses Ann (keyboard: Space ticks the box) and starts the chat.
    await pick(x, Y.name).locator('input').focus();
    await x.keyboard.press('Space');
    assert.equal(await pick(x, Y.name).locator('input').isChecked(), true);
    await x.click('#inew-start');
    await x.locator('#ithread').waitFor({ state: 'visible', timeout: LONG });
    assert.equal(await x.locator('#inew').isVisible(), false);
    await x.locator('#i-title', { hasText: Y.name }).waitFor();
    assert.match(await x.locator('#i-members').innerText(), /You.*Ann Larson|Ann Larson.*You/);
    await chatItem(x, Y.name).waitFor();
    assert.equal(await x.evaluate(() => document.activeElement.id), 'itext', 'the composer has the focus');

    // X writes; the line is pending until acknowledged, then sent.
    await x.fill('#itext', HOSTILE);
    await x.press('#itext', 'Enter');
    await line(x, 'trade-in at 3').locator('.meta', { hasText: /^Sent/ }).waitFor({ timeout: LONG });
    assert.equal(await x.locator('#ilog li.pending').count(), 0);
    await shot(x, 'internal-sent');

    // Ann sees the chat appear under Colleagues with an unread badge.
    const fromKatie = chatItem(y, X.name);
    await fromKatie.locator('.badge', { hasText: /^1/ }).waitFor({ timeout: LONG });
    assert.match(await y.locator('#count-internal').textContent(), /1 unread/);
    await shot(y, 'internal-unread');

    // She opens it: X's message is there, as text, never as markup.
    await fromKatie.click();
    await y.locator('#ithread').waitFor({ state: 'visible' });
    await line(y, 'trade-in at 3').waitFor({ timeout: LONG });
    assert.equal(await y.locator('#ilog img').count(), 0);
    assert.match(await y.locator('#ilog').innerText(), /<img src=x onerror="window.pwned=1">/);
    assert.equal(await y.evaluate(() => window.pwned), undefined);
    assert.equal(await x.evaluate(() => window.pwned), undefined);
    assert.equal(await line(y, 'trade-in at 3').count(), 1);
    await fromKatie.locator('.badge').waitFor({ state: 'detached' });
    assert.equal(await y.getAttribute('#ilog', 'aria-live'), 'polite');

    // She replies; both see it once.
    await y.fill('#itext', 'Yes, I will take it.');
    await y.press('#itext', 'Enter');
    await line(y, 'I will take it').locator('.meta', { hasText: /^Sent/ }).waitFor({ timeout: LONG });
    await line(x, 'I will take it').waitFor({ timeout: LONG });
    assert.equal(await line(x, 'I will take it').count(), 1);
    assert.equal(await line(x, 'trade-in at 3').count(), 1, 'no duplicate of the echoed own message');
    assert.equal(await chatItem(x, Y.name).locator('.badge').count(), 0, 'seen while open');
    await shot(x, 'internal-chat');

    // Invite: David (Offline) is offered but disabled.
    await x.click('#i-invite');
    await x.locator('#iinvite').waitFor({ state: 'visible' });
    const davidOption = x.locator('#iinvite-to option', { hasText: OFFLINE });
    await davidOption.waitFor({ state: 'attached', timeout: LONG });
    assert.equal(await davidOption.evaluate((o) => o.disabled), true);
    assert.match(await davidOption.innerText(), /Offline/);
    assert.equal(await x.locator('#iinvite-to option', { hasText: Y.name }).count(), 0, 'already in the chat');
    await x.press('#iinvite-to', 'Escape');
    await x.locator('#iinvite').waitFor({ state: 'hidden' });

    // The badge updates live while the chat is not in front of X.
    await x.click('#inew-open');
    await x.locator('#inew').waitFor({ state: 'visible' });
    await y.fill('#itext', 'Second thing: the keys are at the desk.');
    await y.press('#itext', 'Enter');
    await chatItem(x, Y.name).locator('.badge', { hasText: /^1/ }).waitFor({ timeout: LONG });
    await x.click('#inew-cancel');
    await chatItem(x, Y.name).click();
    await line(x, 'keys are at the desk').waitFor({ timeout: LONG });
    await chatItem(x, Y.name).locator('.badge').waitFor({ state: 'detached' });

    // After a reload, the chat and its history are back, each message once, nothing unread.
    await x.reload();
    await x.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: LONG });
    await chatItem(x, Y.name).waitFor({ timeout: LONG });
    assert.equal(await chatItem(x, Y.name).locator('.badge').count(), 0, 'what was seen stays seen');
    await chatItem(x, Y.name).click();
    await line(x, 'keys are at the desk').waitFor({ timeout: LONG });
    assert.equal(await line(x, 'trade-in at 3').count(), 1);
    assert.equal(await x.locator('#ilog img').count(), 0);

    // Ann leaves: the chat is gone from her list; X sees she left.
    await y.click('#i-leave');
    await chatItem(y, X.name).waitFor({ state: 'detached', timeout: LONG });
    await y.locator('#ithread').waitFor({ state: 'hidden' });
    await x.locator('#i-notice', { hasText: 'Ann Larson left the chat.' }).waitFor({ timeout: LONG });
    assert.doesNotMatch(await x.locator('#i-members').innerText(), /Ann Larson/);
    await shot(x, 'internal-left');

    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

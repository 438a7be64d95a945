// A shopper who arrives while every chat under way is slow, in a real Chromium: each start is
// answered busy, the widget says so and tries again, and when it has tried enough it tells the
// shopper everyone is busy and offers the leave-a-message form, so the visit still becomes a
// lead. The form sent goes through the same socket; the gateway records it as left because
// everyone was busy (`busy`), with no chat.
//
// Run by libs/testkit/tests/e2e/browser.rs
// (`a_shopper_turned_away_busy_leaves_a_message_that_becomes_a_lead`) against a stack seeded
// with the demo group, whose gateway's admission bound is 1 ms while a chat of another group
// keeps writing: every start is refused. The Rust side checks what was stored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, shot } from './support.mjs';

const BASE = process.env.SHOWROOM_BASE_URL;
const BUSY = 'Everyone is busy for a moment. Connecting you…';
const TURNED_AWAY = "Everyone is busy with other customers right now. Leave a message and we'll get back to you soon.";
const THANKS = 'Thanks! We got your message and will get back to you soon.';

test('a shopper turned away busy is offered the leave-a-message form and leaves a message', async () => {
  const browser = await launchChromium();
  const problems = [];
  try {
    const page = await (await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'en-US' })).newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${BASE}/demo`);
    await page.click('button.launch');
    const sales = page.locator('.pick .dept', { hasText: 'Sales' });
    await sales.click();
    await page.getByText(BUSY).waitFor({ timeout: 15000 });
    // The widget tries five times more, 2–4 s, 4–8 s, then 8–16 s apart: 30 to 60 s.
    const line = page.locator('.chat .line', { hasText: TURNED_AWAY });
    await line.waitFor({ timeout: 90000 });
    assert.equal(await page.getByText(BUSY).count(), 0, 'the notice of the tries goes');
    assert.equal(await page.locator('input[aria-label="Type your message"]').isVisible(), false, 'no chat to type in');
    assert.ok(await page.getByRole('button', { name: 'Start a new chat' }).isVisible(), 'the shopper may try again later');

    const form = page.locator('form.leave');
    await form.waitFor({ timeout: 5000 });
    const field = (label) => form.getByLabel(label, { exact: true });
    assert.equal(await field('Department').locator('option:checked').innerText(), 'Sales', 'the department picked');
    await field('First name').fill('Rosa');
    await field('Last name').fill('Peakday');
    await field('E-mail').fill('rosa.peakday@example.com');
    await field('Message').fill('Your chat was busy. Is the CR-V hybrid in stock? Call me after 5.');
    await shot(page, 'widget-turned-away');
    await form.getByRole('button', { name: 'Send message' }).click();
    await page.locator('.done', { hasText: THANKS }).waitFor({ timeout: 15000 });
    assert.equal(await form.isVisible(), false);
  } finally {
    await browser.close();
  }
  assert.deepEqual(problems, []);
});

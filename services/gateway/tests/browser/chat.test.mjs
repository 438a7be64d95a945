// A person's whole chat in a real Chromium: a shopper on /demo (a 360-pixel phone) and an agent
// in /console. Run by libs/testkit/tests/browser.rs against a real stack, which sets
// SHOWROOM_BASE_URL and SHOWROOM_NODE_MODULES (where deploy/install.sh put playwright-core).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(`${process.env.SHOWROOM_NODE_MODULES}/`);
const { chromium } = require('playwright-core');

const BASE = process.env.SHOWROOM_BASE_URL;
const SHOTS = process.env.SHOWROOM_SCREENSHOTS; // optional: where to save screenshots
const AGENT = { email: 'ann@demo.showroom.test', password: 'showroom-demo' };
const HOSTILE = '<img src=x onerror="window.pwned=1"> is the RAV4 still here?';

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png` });
}

test('a shopper on /demo chats with an agent in /console', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  try {
    // The agent logs in and becomes Available.
    const agent = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    const problems = [];
    agent.on('pageerror', (e) => problems.push(`console page: ${e.message}`));
    await agent.goto(`${BASE}/console`);
    await agent.fill('#email', AGENT.email);
    await agent.fill('#password', 'wrong password');
    await agent.click('#login-btn');
    await agent.locator('#login-error').filter({ hasText: /./ }).waitFor();
    await agent.fill('#password', AGENT.password);
    await agent.click('#login-btn');
    await agent.locator('#app').waitFor({ state: 'visible' });
    await agent.locator('#agent-name').filter({ hasText: 'Ann Larson' }).waitFor();
    await agent.selectOption('#status', 'available');

    // The shopper opens the widget on the demo page, picks Sales and writes.
    const shopper = await (await browser.newContext({ viewport: { width: 360, height: 740 } })).newPage();
    shopper.on('pageerror', (e) => problems.push(`demo page: ${e.message}`));
    await shopper.goto(`${BASE}/demo`);
    await shopper.click('button.launch');
    await shopper.locator('.pick input').fill('Maria');
    await shopper.locator('.pick button', { hasText: 'Sales' }).click();
    await shopper.locator('.line', { hasText: /waiting/i }).first().waitFor();
    const box = shopper.locator('input[aria-label="Type your message"]');
    await box.fill(HOSTILE);
    await box.press('Enter');
    await shot(shopper, 'widget-waiting');

    // It shows up in the agent's Incoming; Respond takes it.
    const respond = agent.locator('#list-incoming button', { hasText: 'Respond' });
    await respond.waitFor();
    await shot(agent, 'console-incoming');
    await respond.click();
    await agent.locator('#log li', { hasText: 'is the RAV4 still here?' }).waitFor();
    // What the shopper typed is shown as text, never as markup.
    assert.equal(await agent.locator('#log img').count(), 0);
    assert.match(await agent.locator('#log').innerText(), /<img src=x onerror="window.pwned=1">/);
    assert.equal(await agent.evaluate(() => window.pwned), undefined);
    // The vehicle on the demo page (the snippet's data attributes) came with the chat.
    await agent.locator('#t-vehicle', { hasText: '2023 Honda Civic EX · $24,900 · Stock H4412 · VIN JHMFE2F59PX000123' }).waitFor();
    assert.match(await agent.locator('#t-vehicle a').getAttribute('href'), /\/demo$/);

    // The shopper sees the agent join; the agent replies; the shopper sees it.
    await shopper.locator('.line', { hasText: /Ann Larson/ }).first().waitFor();
    await agent.fill('#reply-text', 'Yes! Come see it today.');
    await agent.press('#reply-text', 'Enter');
    await shopper.locator('.log li', { hasText: 'Come see it today' }).waitFor();
    assert.equal(await shopper.locator('.log img').count(), 0);
    await shot(shopper, 'widget-chat');
    await shot(agent, 'console-chat');

    // A reload resumes the same conversation with its history, each message once.
    await shopper.reload();
    await shopper.click('button.launch');
    await shopper.locator('.log li', { hasText: 'Come see it today' }).waitFor();
    assert.equal(await shopper.locator('.log li', { hasText: 'is the RAV4 still here?' }).count(), 1);

    // The agent ends it; both sides see it ended.
    await agent.click('#end');
    await shopper.locator('text=/chat has ended/i').first().waitFor();
    await agent.locator('#list-recent li').first().waitFor();
    await shot(shopper, 'widget-ended');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

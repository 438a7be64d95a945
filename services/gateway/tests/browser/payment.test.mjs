// Payment estimates in a real Chromium: the agent opens Details ▸ Payment estimate, asks for a
// finance estimate with $2,000 down, sees the server's figures and sends them; the shopper gets
// the card with the dealer's disclaimer. The shopper then asks for a lease with "Estimate my
// payment" and sees it. Run by libs/testkit/tests/e2e/payment.rs, which gives the demo group's
// Showroom Honda payment settings (6.9 % for 60 months; MF 0.00125, 58 %, 36 months, $695 fees,
// $2,000 down; no tax). The demo page's vehicle is a $24,900 Honda Civic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, shot, shopperThroughGate, consoleAvailable, openAdmin } from './support.mjs';

const BASE = process.env.SHOWROOM_BASE_URL;
const LONG = 15000;

test('an agent sends an estimate card and the shopper estimates a lease', async () => {
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

    // $24,900 − $2,000 = $22,900 at 6.9 % for 60 months: $452.37.
    const pay = agent.locator('#t-payment');
    await pay.locator('summary').click();
    await agent.fill('#pay-down', '2000');
    await pay.locator('button[type="submit"]').click();
    await agent.locator('#pay-result', { hasText: '$452.37/month' }).waitFor({ timeout: LONG });
    await shot(agent, 'payment-agent');
    await agent.click('#pay-send');
    const card = shopper.page.locator('.log li .est');
    await card.waitFor({ timeout: LONG });
    assert.match(await card.innerText(), /\$452\.37\/month · 60 months/);
    assert.match(await card.innerText(), /Estimate only\. Showroom Honda/);
    await agent.locator('#log li', { hasText: '$452.37/month' }).waitFor({ timeout: LONG });

    // The shopper's own: a lease with the dealer's defaults. Cap cost $23,595, residual $14,442:
    // (23,595 − 14,442) / 36 + (23,595 + 14,442) × 0.00125 = 301.79625 → $301.80.
    await shopper.page.locator('button', { hasText: 'Estimate my payment' }).click();
    await shopper.page.locator('form.mailf select').selectOption('lease');
    await shopper.page.locator('button', { hasText: /^Estimate$/ }).click();
    await shopper.page.locator('p.est', { hasText: '$301.80/month · 36 months' }).waitFor({ timeout: LONG });
    await shot(shopper.page, 'payment-shopper');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('a manager keeps a rooftop’s payment settings by make', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');
  const browser = await launchChromium();
  const problems = [];
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.on('pageerror', (e) => problems.push(`admin page: ${e.message}`));
    const nav = await openAdmin(page, BASE, 'maria@demo.showroom.test', 'showroom-demo', LONG);
    await nav.locator('button', { hasText: 'Payment estimates' }).click();
    const cards = page.locator('#admin-body section.p-card');
    await cards.first().waitFor({ timeout: LONG });
    assert.equal(await cards.first().getAttribute('aria-label'), 'Showroom Honda · default');
    assert.equal(await cards.first().locator('input[data-rate="finance_apr_bp"]').inputValue(), '6.9');
    assert.equal(await cards.first().locator('input[data-rate="lease_money_factor_millionths"]').inputValue(), '0.00125');

    // A make's row: an APR out of range is named next to its field, then saved.
    const add = page.locator('section.p-new');
    await add.locator('select.p-rooftop').selectOption({ label: 'Showroom Honda' });
    await add.locator('input.p-make').fill('Honda');
    const rates = { finance_apr_bp: '45', finance_term_months: '72', finance_down_cents: '1000', finance_fees_cents: '0', tax_rate_bp: '0',
      lease_money_factor_millionths: '0.001', lease_residual_bp: '60', lease_term_months: '36', lease_fees_cents: '0', lease_down_cents: '0' };
    for (const [k, v] of Object.entries(rates)) await add.locator(`input[data-rate="${k}"]`).fill(v);
    await add.locator('button[type="submit"]').click();
    await add.locator('.a-err:not([hidden])').first().waitFor({ timeout: LONG });
    assert.equal(await add.locator('.a-field:has(input[data-rate="finance_apr_bp"]) .a-err:not([hidden])').count(), 1);
    await add.locator('input[data-rate="finance_apr_bp"]').fill('1.9');
    await add.locator('button[type="submit"]').click();
    await page.waitForFunction(() => document.querySelectorAll('#admin-body section.p-card').length === 2, null, { timeout: LONG });
    assert.equal(await cards.nth(1).getAttribute('aria-label'), 'Showroom Honda · Honda');
    assert.equal(await cards.nth(1).locator('input[data-rate="finance_apr_bp"]').inputValue(), '1.9');
    await shot(page, 'payment-admin');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

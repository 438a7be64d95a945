// A rooftop manager's Admin tab in a real Chromium: they have one, and it lists only their
// rooftop (A) with its departments and websites, never rooftop B's; the group-wide parts
// (adding a rooftop, the audit trail, integrator credentials) are not offered; the agent
// editor offers them the `agent` role only. Run by libs/testkit/tests/e2e/rooftops_scope.rs,
// which seeds the group and passes SHOWROOM_BASE_URL, SHOWROOM_NODE_MODULES and SCOPE_* (the
// rooftop manager's e-mail and password, the rooftops' and websites' names).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, shot, openAdmin } from './support.mjs';

const BASE = process.env.SHOWROOM_BASE_URL;
const E = process.env;
const LONG = 15000;

test("a rooftop manager's Admin pages show their rooftop only", async () => {
  assert.ok(BASE && E.SCOPE_EMAIL, 'SHOWROOM_BASE_URL and SCOPE_EMAIL are set');
  const browser = await launchChromium();
  const problems = [];
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    const nav = await openAdmin(page, BASE, E.SCOPE_EMAIL, E.SCOPE_PASSWORD, LONG);
    assert.equal(await nav.locator('button', { hasText: 'Audit trail' }).count(), 0, 'no audit trail');

    // Rooftops & departments: A with Sales and Service; nothing of B; no "Add a rooftop".
    await nav.locator('button', { hasText: 'Rooftops & departments' }).click();
    const cards = page.locator('#admin-rooftops > section.a-card');
    await cards.first().waitFor({ timeout: LONG });
    assert.deepEqual(await cards.evaluateAll((n) => n.map((c) => c.getAttribute('aria-label'))), [E.SCOPE_A]);
    const labels = await page.locator('#admin-rooftops .a-dep-label').allTextContents();
    assert.deepEqual(labels.sort(), ['Sales', 'Service']);
    const text = await page.locator('#admin-body').innerText();
    assert.ok(!text.includes(E.SCOPE_B) && !text.includes('Parts'), `B shown:\n${text}`);
    assert.equal(await page.locator('section[aria-label="Add a rooftop"]').count(), 0);
    await shot(page, 'rooftop-scope-rooftops');

    // Websites: A's only.
    await nav.locator('button', { hasText: 'Websites' }).click();
    await page.locator('.a-site-list .a-site-btn').first().waitFor({ timeout: LONG });
    const sites = await page.locator('.a-site-list .a-site-btn strong').allTextContents();
    assert.deepEqual(sites, [E.SCOPE_A_WEBSITE]);
    assert.ok(!sites.includes(E.SCOPE_B_WEBSITE));

    // Agents: the new-agent form offers the agent role only; B's Parts is not a choice.
    await nav.locator('button', { hasText: 'Agents' }).click();
    const form = page.locator('#admin-new-agent');
    await form.waitFor({ timeout: LONG });
    const roles = await form.locator('select').first().locator('option').evaluateAll((o) => o.map((x) => x.getAttribute('value')));
    assert.deepEqual(roles, ['agent']);
    const choices = await form.locator('.a-members label').allTextContents();
    assert.ok(choices.length > 0 && !choices.some((c) => c.includes('Parts')), `choices: ${choices}`);
    await shot(page, 'rooftop-scope-agents');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

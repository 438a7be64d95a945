// Admin ▸ Privacy in a real Chromium (services/gateway/assets/console/admin/privacy.js): a group
// manager sees the retention periods (730 days each by default), is told which field is wrong,
// saves new ones; exports a shopper found by e-mail and erases them after confirming, and sees
// what was deleted, table by table. Run by libs/testkit/tests/e2e/retention.rs, which seeds a
// shopper who left a message and passes SHOWROOM_BASE_URL, SHOWROOM_NODE_MODULES and PRIVACY_*
// (the manager's e-mail and password, the shopper's e-mail); it checks the server side after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, shot, openAdmin } from './support.mjs';

const BASE = process.env.SHOWROOM_BASE_URL;
const E = process.env;
const LONG = 15000;

test('a manager sets retention periods, exports and erases a shopper', async () => {
  assert.ok(BASE && E.PRIVACY_EMAIL && E.PRIVACY_SHOPPER, 'SHOWROOM_BASE_URL and PRIVACY_* are set');
  const browser = await launchChromium();
  const problems = [];
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true })).newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    const nav = await openAdmin(page, BASE, E.PRIVACY_EMAIL, E.PRIVACY_PASSWORD, LONG);
    await nav.locator('button', { hasText: 'Privacy' }).click();

    // The periods: the defaults, a wrong one named, then saved.
    const transcripts = page.locator('#admin-retention-transcripts_days');
    await transcripts.waitFor({ timeout: LONG });
    for (const k of ['transcripts_days', 'attachments_days', 'contacts_days', 'leads_days']) {
      assert.equal(await page.locator(`#admin-retention-${k}`).inputValue(), '730', k);
    }
    await transcripts.fill('0');
    await page.click('#admin-retention-form button[type=submit]');
    await page.locator('#admin-retention-form .a-status.bad').waitFor({ timeout: LONG });
    assert.equal(await transcripts.getAttribute('aria-invalid'), 'true', 'the wrong field is marked');
    await transcripts.fill('30');
    await page.locator('#admin-retention-leads_days').fill('365');
    await page.click('#admin-retention-form button[type=submit]');
    await page.locator('#admin-retention-form .a-status', { hasText: 'Saved' }).waitFor({ timeout: LONG });
    await shot(page, 'privacy-retention');

    // Export: a JSON file of the shopper's records.
    await page.fill('#admin-privacy-who', E.PRIVACY_SHOPPER);
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: LONG }),
      page.click('#admin-privacy-export'),
    ]);
    assert.equal(download.suggestedFilename(), 'shopper-export.json');
    await page.locator('#admin-privacy-status', { hasText: 'Exported' }).waitFor({ timeout: LONG });

    // Erase, confirmed: the counts of what went.
    page.once('dialog', (d) => d.accept());
    await page.click('#admin-privacy-erase');
    const counts = page.locator('#admin-privacy-counts');
    await counts.waitFor({ timeout: LONG });
    const tables = await counts.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-table')));
    for (const t of ['contacts', 'leads', 'left_messages']) assert.ok(tables.includes(t), `${t} in ${tables}`);
    await shot(page, 'privacy-erased');

    // Again: nothing left, and nothing to export.
    page.once('dialog', (d) => d.accept());
    await page.click('#admin-privacy-erase');
    await page.locator('#admin-privacy-status', { hasText: 'Nothing of this shopper was left.' }).waitFor({ timeout: LONG });
    await page.click('#admin-privacy-export');
    await page.locator('#admin-privacy-status', { hasText: 'holds nothing' }).waitFor({ timeout: LONG });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

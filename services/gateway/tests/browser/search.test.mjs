// The Search tab in a real Chromium: Ann (an agent) reaches it with the arrow keys, searches
// "tacoma", sees her chat with the matching messages and the word marked (the agent filter
// narrows it: Ann's, not David's), opens it with the keyboard, and the chat shows with those
// messages highlighted and the word in a <mark> (the other message not). A search for nothing says so. Run by libs/testkit/tests/e2e/search.rs,
// which seeds the demo group with an ended chat of Ann's whose shopper asked about a Tacoma.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, shot, consoleAvailable } from './support.mjs';

const BASE = process.env.SHOWROOM_BASE_URL;
const LONG = 15000;

test('an agent searches, opens the chat found and sees the matches highlighted', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');
  const browser = await launchChromium();
  const problems = [];
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.on('pageerror', (e) => problems.push(`console page: ${e.message}`));
    await consoleAvailable(page, 'ann@demo.showroom.test', 'Ann Larson', LONG);

    // The tabs by keyboard: Leads, then ArrowRight shows Search.
    await page.click('#tab-leads');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.getAttribute('#tab-search', 'aria-selected'), 'true');
    await page.locator('#view-search').waitFor({ timeout: LONG });

    // Nothing typed: said so, nothing asked.
    await page.click('#search-go');
    await page.locator('#search-status', { hasText: 'Type what to search for' }).waitFor({ timeout: LONG });

    const q = page.locator('#search-q');
    await q.fill('tacoma');
    await q.press('Enter');
    const hit = page.locator('#search-results .search-hit', { hasText: 'Sam Searcher' });
    await hit.waitFor({ timeout: LONG });
    assert.equal(await page.locator('#search-results .search-hit').count(), 1);
    const marks = await hit.locator('mark.search-mark').allTextContents();
    assert.ok(marks.length >= 1 && marks.every((m) => m.toLowerCase() === 'tacoma'), JSON.stringify(marks));
    await page.locator('#search-status', { hasText: '1 chat' }).waitFor({ timeout: LONG });
    await shot(page, 'search-results');

    // The agent filter, filled from the group's agents: Ann's chat for Ann, none for David.
    await page.locator('#search-agent option', { hasText: 'David Cowan' }).waitFor({ state: 'attached', timeout: LONG });
    assert.ok(await page.locator('#search-where option').count() > 1, 'rooftops and departments are offered');
    await page.selectOption('#search-agent', { label: 'David Cowan' });
    await q.press('Enter');
    await page.locator('#search-status', { hasText: 'No chats match' }).waitFor({ timeout: LONG });
    await page.selectOption('#search-agent', { label: 'Ann Larson' });
    await q.press('Enter');
    await hit.waitFor({ timeout: LONG });
    assert.equal(await page.locator('#search-results .search-hit').count(), 1);

    // Opened with the keyboard: the Chats tab, the matching messages highlighted.
    await hit.locator('button.search-open').focus();
    await page.keyboard.press('Enter');
    await page.locator('#view-chats').waitFor({ timeout: LONG });
    const highlighted = page.locator('#log li.hit');
    await highlighted.nth(1).waitFor({ timeout: LONG });
    assert.equal(await highlighted.count(), 2);
    assert.deepEqual(await page.locator('#log li.hit mark.search-mark').allTextContents(), ['Tacoma', 'Tacoma']);
    const other = page.locator('#log li', { hasText: 'Great, thanks' });
    await other.waitFor({ timeout: LONG });
    assert.equal(await other.locator('mark').count(), 0);
    assert.equal(await other.evaluate((li) => li.classList.contains('hit')), false);
    await shot(page, 'search-opened');

    // A word nowhere.
    await page.click('#tab-search');
    await q.fill('zeppelin');
    await q.press('Enter');
    await page.locator('#search-status', { hasText: 'No chats match' }).waitFor({ timeout: LONG });
    assert.equal(await page.locator('#search-results .search-hit').count(), 0);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

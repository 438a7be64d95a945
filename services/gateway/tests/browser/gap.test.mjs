// Faults between the gateway and the page, made on purpose by the test's WebSocket routes:
// - a message frame lost: the console and the widget notice the seq jump and fetch what they
//   missed (`open` and `history`) without reconnecting, and show it in its place, once;
// - an agent's Respond answered `unavailable` ("busy", as when the router sheds requests at a
//   peak): the console sends the same `accept` again by itself, and the chat opens, with no
//   error shown to the agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { consoleAvailable, launchChromium, loseOneMessage, refuseFirst, shopperThroughGate } from './support.mjs';

const LONG = 15000;

/** The texts of a transcript's lines, in the order shown. */
const lines = (page, selector) => page.locator(selector).allInnerTexts();

function inOrder(texts, first, second) {
  const a = texts.findIndex((t) => t.includes(first));
  const b = texts.findIndex((t) => t.includes(second));
  assert.ok(a >= 0 && b > a, `"${first}" shown before "${second}": ${JSON.stringify(texts)}`);
  assert.equal(texts.filter((t) => t.includes(first)).length, 1, `"${first}" shown once`);
}

test('a page that misses a message frame shows it after healing', async () => {
  const browser = await launchChromium();
  try {
    const problems = [];
    const agent = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    agent.on('pageerror', (e) => problems.push(`console page: ${e.message}`));
    const toAgent = await loseOneMessage(agent, '/ws/console', 'LOST-TO-AGENT');
    await consoleAvailable(agent, 'ann@demo.showroom.test', 'Ann Larson');

    let toShopper = null;
    const s = await shopperThroughGate(browser, problems, {
      first: 'Gina', last: 'Gaps', reach: 'gina.gaps@example.com',
      prepare: async (page) => { toShopper = await loseOneMessage(page, '/ws/widget', 'LOST-TO-SHOPPER'); },
    });
    await s.botSays('Someone will be right with you', LONG);
    const entry = agent.locator('#list-incoming li', { hasText: 'Gina' });
    await entry.locator('button', { hasText: 'Respond' }).click({ timeout: LONG });
    await agent.locator('#log li', { hasText: 'gina.gaps@example.com' }).waitFor({ timeout: LONG });
    await s.page.locator('.log li.system', { hasText: 'Ann Larson joined the chat.' }).waitFor({ timeout: LONG });

    // The console loses the shopper's first message; the second arrives with a seq jump.
    await s.answer('LOST-TO-AGENT is it in blue?');
    await s.answer('or in red?');
    await toAgent.dropped;
    await agent.locator('#log li', { hasText: 'or in red?' }).waitFor({ timeout: LONG });
    await agent.locator('#log li', { hasText: 'LOST-TO-AGENT' }).waitFor({ timeout: LONG });
    inOrder(await lines(agent, '#log li'), 'LOST-TO-AGENT', 'or in red?');

    // The widget loses the agent's first answer the same way.
    await agent.fill('#reply-text', 'LOST-TO-SHOPPER both, in stock');
    await agent.press('#reply-text', 'Enter');
    await agent.fill('#reply-text', 'Want to see them?');
    await agent.press('#reply-text', 'Enter');
    await toShopper.dropped;
    await s.page.locator('.log li', { hasText: 'Want to see them?' }).waitFor({ timeout: LONG });
    await s.page.locator('.log li', { hasText: 'LOST-TO-SHOPPER' }).waitFor({ timeout: LONG });
    inOrder(await lines(s.page, '.log li'), 'LOST-TO-SHOPPER', 'Want to see them?');

    // Healed by asking, not by dropping the socket.
    assert.equal(toAgent.connections(), 1, 'the console kept its socket');
    assert.equal(toShopper.connections(), 1, 'the widget kept its socket');
    await agent.click('#end');
    await s.page.locator('text=/chat has ended/i').first().waitFor({ timeout: LONG });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('a Respond answered busy is sent again and the chat opens', async () => {
  const browser = await launchChromium();
  try {
    const problems = [];
    const agent = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    agent.on('pageerror', (e) => problems.push(`console page: ${e.message}`));
    const busy = await refuseFirst(agent, '/ws/console', 'accept', 'unavailable', 'busy: too many requests at once, try again');
    await consoleAvailable(agent, 'ann@demo.showroom.test', 'Ann Larson');
    const s = await shopperThroughGate(browser, problems, { first: 'Bea', last: 'Busyday', reach: 'bea.busyday@example.com' });
    await s.botSays('Someone will be right with you', LONG);
    const entry = agent.locator('#list-incoming li', { hasText: 'Bea' });
    await entry.locator('button', { hasText: 'Respond' }).click({ timeout: LONG });
    await busy.refused;
    await agent.locator('#log li', { hasText: 'bea.busyday@example.com' }).waitFor({ timeout: LONG });
    await s.page.locator('.log li.system', { hasText: 'joined the chat.' }).waitFor({ timeout: LONG });
    assert.equal(busy.sent(), 2, 'the same accept once more');
    assert.equal(await agent.locator('#banner').isVisible(), false, 'no error shown to the agent');
    await agent.click('#end');
    await s.page.locator('text=/chat has ended/i').first().waitFor({ timeout: LONG });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

// A person's whole chat in a real Chromium: a shopper on /demo (a 360-pixel phone) and an agent
// in /console. Run by libs/testkit/tests/browser.rs against a real stack, which sets
// SHOWROOM_BASE_URL and SHOWROOM_NODE_MODULES (where deploy/install.sh put playwright-core).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, shot } from './support.mjs';


const BASE = process.env.SHOWROOM_BASE_URL;
const AGENT = { email: 'ann@demo.showroom.test', password: 'showroom-demo' };
const HOSTILE = '<img src=x onerror="window.pwned=1"> is the RAV4 still here?';

test('a shopper on /demo chats with an agent in /console', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');
  const browser = await launchChromium();
  try {
    // The agent logs in and becomes Available.
    const agent = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    const problems = [];
    agent.on('pageerror', (e) => problems.push(`console page: ${e.message}`));
    // Every socket names its dealer group as its route, for a proxy to keep the group on one gateway.
    const routeOf = (url) => new URL(url).searchParams.get('route');
    const agentRoutes = [], shopperRoutes = [];
    agent.on('websocket', (ws) => agentRoutes.push(routeOf(ws.url())));
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

    // The shopper opens the widget on the demo page and picks Sales. The demo website has the
    // Lead Gate on: the bot asks for a name and a way to reach them first, and checks each answer.
    const shopper = await (await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'en-US' })).newPage();
    shopper.on('pageerror', (e) => problems.push(`demo page: ${e.message}`));
    shopper.on('websocket', (ws) => shopperRoutes.push(routeOf(ws.url())));
    await shopper.goto(`${BASE}/demo`);
    await shopper.click('button.launch');
    // No name field with the gate on: the bot asks.
    await shopper.locator('.pick .dept', { hasText: 'Sales' }).waitFor();
    assert.equal(await shopper.locator('.pick input').isVisible(), false);
    await shopper.locator('.pick .dept', { hasText: 'Sales' }).click();
    await shopper.locator('.line', { hasText: /assistant/i }).first().waitFor();
    const box = shopper.locator('input[aria-label="Type your message"]');
    const botSays = (text) => shopper.locator('.log li.bot', { hasText: text }).last().waitFor();
    const answer = async (text) => { await box.fill(text); await box.press('Enter'); };
    await botSays("I'm Assistant from Showroom Honda");
    await botSays("What's your first name?");
    // The department was chosen: the bot does not ask it, and there are no department buttons.
    assert.equal(await shopper.locator('.log li.bot', { hasText: 'Which department' }).count(), 0);
    assert.equal(await shopper.locator('.quick button').count(), 0);
    await answer('Maria');
    await botSays('Thanks, Maria. And your last name?');
    await answer('R2D2');
    await botSays('Please type just your name, in letters');
    await answer('Lopez');
    await botSays('best e-mail address or mobile number');
    await botSays('By giving your mobile number you agree that Showroom Honda');
    await answer('maria@example');
    await botSays("That e-mail address doesn't look complete");
    await answer('maria@example.com');
    await botSays('Thanks, Maria! Someone will be right with you.');
    await shopper.locator('.line', { hasText: /waiting/i }).first().waitFor();
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
    // What the Lead Gate collected is on the chat's head: name, e-mail as a link, language.
    const contact = agent.locator('#t-contact');
    await contact.filter({ hasText: 'Maria Lopez' }).waitFor();
    assert.match(await contact.innerText(), /Maria Lopez · maria@example\.com · English/);
    assert.equal(await contact.locator('a').getAttribute('href'), 'mailto:maria@example.com');
    // The bot's questions and the answers are in the transcript the agent sees.
    await agent.locator('#log li', { hasText: 'R2D2' }).waitFor();

    // The shopper sees the agent join (a line in the chat, and the agent's name on top instead of
    // the bot's); the agent replies; the shopper sees it.
    await shopper.locator('.log li.system', { hasText: 'Ann Larson joined the chat.' }).waitFor();
    await shopper.locator('.line', { hasText: /Ann Larson/ }).first().waitFor();
    await shopper.locator('.head h2', { hasText: 'Ann Larson' }).waitFor();
    await agent.fill('#reply-text', 'Yes! Come see it today.');
    await agent.press('#reply-text', 'Enter');
    await shopper.locator('.log li', { hasText: 'Come see it today' }).waitFor();
    assert.equal(await shopper.locator('.log img').count(), 0);
    // Read marks: the agent had the chat on screen, so "Seen" is under the shopper's last
    // message; the shopper has the widget open, so "Seen" is under the agent's reply.
    await shopper.locator('.log li.shopper', { hasText: 'is the RAV4 still here?' }).locator('.seen', { hasText: 'Seen' }).waitFor();
    assert.equal(await shopper.locator('.log .seen').count(), 1);
    await agent.locator('#log li.agent', { hasText: 'Come see it today' }).locator('.seen', { hasText: 'Seen' }).waitFor();
    assert.equal(await agent.locator('#log .seen').count(), 1);
    await shot(shopper, 'widget-chat');
    await shot(agent, 'console-chat');

    // Maria, the manager, opens the live chat from its link: Ann sees her watching; Maria
    // whispers; Ann sees the whisper in the transcript, the shopper never does.
    const key = await agent.locator('#list-active [data-key^="open:"]').first().getAttribute('data-key');
    const convId = key.slice('open:'.length);
    const manager = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    manager.on('pageerror', (e) => problems.push(`manager page: ${e.message}`));
    await manager.goto(`${BASE}/console#conversation=${convId}`);
    await manager.fill('#email', 'maria@demo.showroom.test');
    await manager.fill('#password', AGENT.password);
    await manager.click('#login-btn');
    await manager.locator('#log li', { hasText: 'Come see it today' }).waitFor();
    await manager.locator('#whisper').waitFor({ state: 'visible' });
    assert.equal(await manager.locator('#reply').isVisible(), false, 'read-only for the manager');
    await agent.locator('#watchers', { hasText: 'Maria Lopez is watching this chat.' }).waitFor();
    await manager.fill('#whisper-text', 'Mention the loyalty rebate.');
    await manager.press('#whisper-text', 'Enter');
    await agent.locator('#log li.whisper', { hasText: 'Mention the loyalty rebate.' }).waitFor();
    assert.match(await agent.locator('#log li.whisper .who').innerText(), /Whisper from Maria Lopez/);
    await manager.locator('#log li.whisper', { hasText: 'Mention the loyalty rebate.' }).waitFor();
    await shot(agent, 'console-whisper');
    await manager.close();
    await agent.locator('#watchers').waitFor({ state: 'hidden' });
    assert.equal(await shopper.locator('.log', { hasText: 'loyalty rebate' }).count(), 0);

    // A reload resumes the same conversation with its history, each message once.
    await shopper.reload();
    await shopper.click('button.launch');
    await shopper.locator('.log li', { hasText: 'Come see it today' }).waitFor();
    assert.equal(await shopper.locator('.log li', { hasText: 'is the RAV4 still here?' }).count(), 1);
    assert.equal(await shopper.locator('.log li', { hasText: 'R2D2' }).count(), 1);
    await shopper.locator('.head h2', { hasText: 'Ann Larson' }).waitFor();
    // The stored mark comes back with the reload.
    await shopper.locator('.log li.shopper .seen', { hasText: 'Seen' }).waitFor();
    // Routes: the console's is its agent's group; the widget asked its website's (the same
    // group) before its first socket, and kept it through the reload.
    const group = (await agent.evaluate(async () => (await (await fetch('/api/v1/me')).json()).group_id));
    assert.match(group, /^[0-9a-f-]{36}$/);
    assert.ok(agentRoutes.length > 0 && agentRoutes.every((r) => r === group), `console routes ${agentRoutes}`);
    assert.ok(shopperRoutes.length >= 2 && shopperRoutes.every((r) => r === group), `widget routes ${shopperRoutes}`);

    // The agent ends it; both sides see it ended.
    await agent.click('#end');
    await shopper.locator('text=/chat has ended/i').first().waitFor();
    await agent.locator('#list-recent li').first().waitFor();
    await shot(shopper, 'widget-ended');
    // The shopper rates the chat once (CSAT).
    await shopper.locator('.rate', { hasText: 'How was your chat?' }).waitFor();
    await shopper.locator('.rate .star').nth(4).click();
    await shopper.fill('#sr-rate-c', 'Ann was great');
    await shopper.locator('.rate button.send').click();
    await shopper.locator('.done', { hasText: 'Thanks for your rating!' }).waitFor();
    assert.equal(await shopper.locator('.rate').isVisible(), false);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

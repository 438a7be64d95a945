// Chats that cannot go live, in a real Chromium, and the leads they make in the console.
//
// 1. Maria (manager) gives Showroom Honda's Sales an incoming time-out of a few seconds through
//    the REST API. Ann is Available; a shopper on /demo (a 360-pixel phone) answers the Lead Gate;
//    the chat waits in Ann's Incoming, nobody responds, it is missed: it leaves Incoming, the
//    shopper is told and offered the leave-a-message form, and the lead of the missed chat (with
//    what the gate collected) turns up in the Leads view, whence Ann opens the missed chat.
// 2. Maria sets Sales's hours so that it is closed today (a weekly schedule with no interval on
//    today's weekday, in the rooftop's time zone). A shopper goes through the Lead Gate, is told
//    the department is closed and leaves a message with the form. The chat made a lead (what the
//    gate collected); the message is merged into it, and Ann sees it in the Leads view.
//
// Every routing setting changed is read first and put back, pass or fail; Ann is set back to
// Available. Run by libs/testkit/tests/browser.rs against a real stack seeded with the demo group
// (libs/rest/src/demo.rs), which sets SHOWROOM_BASE_URL and SHOWROOM_NODE_MODULES (where
// deploy/install.sh put playwright-core).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, shot, shopperThroughGate } from './support.mjs';

const BASE = process.env.SHOWROOM_BASE_URL;
const PASSWORD = 'showroom-demo';
const AGENT = { email: 'ann@demo.showroom.test', name: 'Ann Larson' };
const MANAGER = 'maria@demo.showroom.test';
const LONG = 15000; // generous, for things that do not have to be quick
const TIMEOUT_SECS = 6; // Sales's incoming time-out in the first test

// Names the Lead Gate takes (letters only) that no other test or earlier lead used, so the
// leads made here are not merged into another contact's open lead.
const letters = () => (Date.now().toString(36) + Math.random().toString(36).slice(2, 7)).replace(/\d/g, (d) => 'qwxyzjkvbp'[d]);
const uniqueName = () => { const s = letters(); return s[0].toUpperCase() + s.slice(1); };

// Polls `check` (async, truthy when done) every 300 ms until `timeout` ms have passed.
async function until(what, check, timeout = LONG) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function rest(method, path, token, body) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let data = null; try { data = JSON.parse(text); } catch (_) { data = text; }
  return { status: r.status, data };
}

async function managerToken() {
  const r = await rest('POST', '/api/v1/auth/login', null, { email: MANAGER, password: PASSWORD });
  assert.equal(r.status, 200, `the manager logs in: ${JSON.stringify(r.data)}`);
  return r.data.token;
}

// Showroom Honda's Sales (the demo website's rooftop), from the group's rooftops.
async function hondaSales(token) {
  const r = await rest('GET', '/api/v1/rooftops', token);
  assert.equal(r.status, 200, JSON.stringify(r.data));
  const honda = r.data.rooftops.find((x) => x.name === 'Showroom Honda');
  assert.ok(honda, 'Showroom Honda is listed');
  const sales = honda.departments.find((d) => d.label === 'Sales');
  assert.ok(sales, 'Showroom Honda has Sales');
  return sales.id;
}

// A department's routing: read first (to put it back), changed, and restored.
function routingOf(token, id) {
  const path = `/api/v1/departments/${id}/routing`;
  return {
    async get() {
      const r = await rest('GET', path, token);
      assert.equal(r.status, 200, JSON.stringify(r.data));
      return r.data;
    },
    async put(settings) {
      const r = await rest('PUT', path, token, settings);
      assert.equal(r.status, 200, JSON.stringify(r.data));
      return r.data;
    },
    // Puts `settings` back and checks they are what is stored; answers the problem, if any.
    async restore(settings) {
      try {
        const r = await rest('PUT', path, token, settings);
        if (r.status !== 200) return `restoring ${path} answered ${r.status}: ${JSON.stringify(r.data)}`;
        const now = await rest('GET', path, token);
        assert.deepEqual(now.data.settings, settings);
        return null;
      } catch (e) {
        return `restoring ${path}: ${e.message}`;
      }
    },
  };
}

async function login(page) {
  await page.goto(`${BASE}/console`);
  await page.fill('#email', AGENT.email);
  await page.fill('#password', PASSWORD);
  await page.click('#login-btn');
  await page.locator('#app').waitFor({ state: 'visible', timeout: LONG });
  await page.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: LONG });
  await page.locator('#agent-name', { hasText: AGENT.name }).waitFor({ timeout: LONG });
  await page.selectOption('#status', 'available');
  await until('Ann to be Available', () => page.evaluate(async () => {
    const board = await (await fetch('/api/v1/presence/board')).json();
    return board.agents.some((a) => a.name === 'Ann Larson' && a.effective === 'available');
  }));
}

// Ann's console, logged in and Available, with its page errors collected.
async function agentConsole(browser, problems) {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.on('pageerror', (e) => problems.push(`console page: ${e.message}`));
  await login(page);
  return page;
}

// Sets Ann back to Available (whatever happened), as the later files expect her.
async function annAvailable(page) {
  if (!page) return;
  await page.evaluate(async () => {
    const me = await (await fetch('/api/v1/me')).json();
    await fetch(`/api/v1/agents/${(me.agent || me).id}/status`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'available' }),
    });
  }).catch(() => {});
}

// The Leads view, refreshed until `row` is there and `ready(row)` holds.
async function leadsRowWhen(agent, row, what, ready = async () => true) {
  if (await agent.getAttribute('#tab-leads', 'aria-selected') !== 'true') await agent.click('#tab-leads');
  await agent.locator('#view-leads').waitFor();
  await until(what, async () => {
    await agent.click('#leads-refresh');
    await agent.locator('#view-leads[aria-busy="false"]').waitFor({ timeout: LONG });
    return (await row.count()) === 1 && ready(row);
  }, 2 * LONG);
}

// The lead with its history and sources, as the console's session reads it.
const leadOf = (agent, id) => agent.evaluate(async (lead) => {
  const r = await fetch(`/api/v1/leads/${lead}`);
  return { status: r.status, data: await r.json() };
}, id);

test('a chat nobody answers in time is missed, and its lead turns up in the Leads view', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');
  const token = await managerToken();
  const routing = routingOf(token, await hondaSales(token));
  const original = (await routing.get()).settings;
  const browser = await launchChromium();
  const problems = [];
  let agent = null, restored = null;
  try {
    // Maria: a chat nobody takes within a few seconds is missed (always open, no wait time).
    const set = await routing.put({ ...original, incoming_timeout_secs: TIMEOUT_SECS, wait_secs: null, hours: null });
    assert.equal(set.settings.incoming_timeout_secs, TIMEOUT_SECS);
    assert.equal(set.open_now, true);

    agent = await agentConsole(browser, problems);

    // A shopper answers the Lead Gate; the chat is offered to Ann.
    const first = 'Jordan', last = uniqueName(), email = `jordan.${last.toLowerCase()}@example.com`;
    const shopper = await shopperThroughGate(browser, problems, { first, last, reach: email });
    await shopper.botSays(`Thanks, ${first}! Someone will be right with you.`);
    await shopper.page.locator('.line', { hasText: 'Waiting for an agent' }).waitFor({ timeout: LONG });
    const offer = agent.locator('#list-incoming li', { hasText: `${first} ${last}` });
    await offer.waitFor({ timeout: LONG });
    const respond = offer.getByRole('button', { name: `Respond to ${first} ${last}` });
    assert.equal(await respond.isEnabled(), true);
    const chatId = (await respond.getAttribute('data-key')).replace(/^respond:/, '');
    assert.match(await offer.innerText(), /Sales · Showroom Honda/);

    // Nobody responds: after the time-out the shopper is told, and the form is offered.
    const missed = shopper.page.locator('.line[data-state="missed"]');
    await missed.waitFor({ timeout: TIMEOUT_SECS * 1000 + LONG });
    const waited = Date.now() - shopper.routed;
    assert.ok(waited >= (TIMEOUT_SECS - 1) * 1000, `missed after the time-out, not before: ${waited} ms`);
    assert.equal(await missed.innerText(), "Sorry, no one could answer in time. Leave us a message and we'll get back to you.");
    assert.equal(await shopper.box.isVisible(), false, 'no more typing in a missed chat');
    await shopper.page.getByRole('button', { name: 'Start a new chat' }).waitFor();
    const form = shopper.page.locator('form.leave');
    await form.waitFor({ timeout: LONG });
    const field = (label) => form.getByLabel(label, { exact: true });
    assert.equal(await field('First name').inputValue(), first, 'filled in with what the gate collected');
    assert.equal(await field('Last name').inputValue(), last);
    assert.equal(await field('E-mail').inputValue(), email);
    assert.equal(await field('Message').inputValue(), '');

    // It left Ann's Incoming for her Recent, as missed (also after a reload).
    await offer.waitFor({ state: 'detached', timeout: LONG });
    await agent.locator('#list-recent button', { hasText: `${first} ${last}` }).waitFor({ timeout: LONG });
    await agent.reload();
    await agent.locator('#list-recent button', { hasText: `${first} ${last}` }).waitFor({ timeout: LONG });

    // The lead of the missed chat turns up in the Leads view, with what the gate collected.
    const row = agent.locator('#leads-rows tr', { hasText: `${first} ${last}` });
    await leadsRowWhen(agent, row, 'the missed chat’s lead in the Leads view');
    const cells = await row.locator('td').allInnerTexts();
    assert.match(cells[0], new RegExp(`^${first} ${last}\\s+${email.replace(/\./g, '\\.')}$`));
    assert.deepEqual(cells.slice(1, 4), ['Missed chat', 'Showroom Honda', 'Sales']);
    assert.match(cells[4], /^Today \d/);
    assert.equal(cells[5], 'Not classified');
    const lead = await leadOf(agent, await row.getAttribute('data-lead-id'));
    assert.equal(lead.status, 200, JSON.stringify(lead.data));
    assert.equal(lead.data.lead.origin, 'missed_chat');
    assert.equal(lead.data.lead.conversation_id, chatId, 'the lead is the missed chat’s');
    assert.deepEqual(lead.data.lead.sources.map((s) => s.origin), ['missed_chat']);
    assert.ok(!lead.data.lead.message, 'no message left');

    // Ann opens the missed chat from its lead: the transcript, its state, the lead under it.
    await row.getByRole('button', { name: `Open the chat with ${first} ${last}` }).click();
    await agent.locator('#t-title', { hasText: `${first} ${last}` }).waitFor({ timeout: LONG });
    assert.equal(await agent.getAttribute('#tab-chats', 'aria-selected'), 'true');
    await agent.locator('#t-state', { hasText: 'Missed' }).waitFor({ timeout: LONG });
    await agent.locator('#log li', { hasText: email }).waitFor({ timeout: LONG });
    assert.equal(await agent.locator('#reply-text').isVisible(), false, 'nobody writes in a missed chat');
    const card = agent.locator('#t-leads .lead-card', { hasText: `${first} ${last}` });
    await card.waitFor({ timeout: LONG });
    assert.equal(await card.locator('.origin').innerText(), 'Missed chat');
    await agent.locator('#list-recent button', { hasText: `${first} ${last}` }).waitFor({ timeout: LONG });
    await shot(agent, 'console-missed');

    assert.deepEqual(problems, []);
  } finally {
    restored = await routing.restore(original);
    await annAvailable(agent);
    await browser.close();
  }
  assert.equal(restored, null);
});

// ISO weekday (1 = Monday … 7 = Sunday) of today in `zone`.
function weekdayIn(zone) {
  const short = new Intl.DateTimeFormat('en-US', { timeZone: zone, weekday: 'short' }).format(new Date());
  return ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(short) + 1;
}

test('after hours a shopper leaves a message, which Ann finds with the lead in the Leads view', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');
  const token = await managerToken();
  const routing = routingOf(token, await hondaSales(token));
  const before = await routing.get();
  const original = before.settings;
  const browser = await launchChromium();
  const problems = [];
  let agent = null, restored = null;
  try {
    // Maria: Sales is open 09:00–18:00 every day but today (in the rooftop's time zone).
    assert.equal(before.time_zone, 'America/Chicago');
    const today = weekdayIn(before.time_zone);
    assert.ok(today >= 1 && today <= 7);
    const intervals = [1, 2, 3, 4, 5, 6, 7].filter((d) => d !== today).map((weekday) => ({ weekday, opens: '09:00', closes: '18:00' }));
    const set = await routing.put({ ...original, hours: { intervals, closures: [] } });
    assert.equal(set.open_now, false, `closed today: ${JSON.stringify(set)}`);
    assert.deepEqual(set.settings.hours.intervals.map((i) => i.weekday), intervals.map((i) => i.weekday));
    const opens = Date.parse(set.next_open);
    assert.ok(opens > Date.now() && opens < Date.now() + 2 * 86400000, `opens tomorrow: ${set.next_open}`);

    agent = await agentConsole(browser, problems);

    // A shopper goes through the Lead Gate and is told Sales is closed, with the form.
    const first = 'Casey', last = uniqueName(), email = `casey.${last.toLowerCase()}@example.com`;
    const shopper = await shopperThroughGate(browser, problems, { first, last, reach: email });
    const closed = shopper.page.locator('.line[data-state="offline"]');
    await closed.waitFor({ timeout: LONG });
    assert.equal(await closed.innerText(), "We're closed right now. Leave us a message and we'll get back to you when we open.");
    assert.equal(await shopper.page.locator('.log li.bot', { hasText: 'Someone will be right with you' }).count(), 0,
      'nobody is promised after hours');
    assert.equal(await shopper.box.isVisible(), false);
    const form = shopper.page.locator('form.leave');
    await form.waitFor({ timeout: LONG });
    const field = (label) => form.getByLabel(label, { exact: true });
    assert.equal(await field('First name').inputValue(), first);
    assert.equal(await field('Last name').inputValue(), last);
    assert.equal(await field('E-mail').inputValue(), email);
    assert.equal(await agent.locator('#list-incoming li', { hasText: `${first} ${last}` }).count(), 0, 'not offered to Ann');

    // What the gate collected already made a lead of the closed chat (as a shopper would take a
    // moment to write, the test waits for it: the message then joins this lead).
    const row = agent.locator('#leads-rows tr', { hasText: `${first} ${last}` });
    await leadsRowWhen(agent, row, 'the after-hours chat’s lead in the Leads view');
    const leadId = await row.getAttribute('data-lead-id');
    assert.deepEqual((await row.locator('td').allInnerTexts()).slice(1, 4), ['Offline', 'Showroom Honda', 'Sales']);

    // The shopper writes and sends a message, and is thanked.
    const message = `Is the Civic EX still there? I can come Saturday (${last}).`; // under 80: shown whole
    await field('Message').fill(message);
    await shot(shopper.page, 'widget-after-hours');
    await form.getByRole('button', { name: 'Send message' }).click();
    await shopper.page.locator('.done', { hasText: 'Thanks! We got your message and will get back to you soon.' }).waitFor({ timeout: LONG });
    assert.equal(await form.isVisible(), false);

    // The message joins the lead: one row for the shopper, with the message, in the Leads view.
    await leadsRowWhen(agent, row, 'the message in the Leads view',
      async (r) => (await r.locator('.lead-message').count()) === 1);
    assert.equal(await row.getAttribute('data-lead-id'), leadId, 'the same lead');
    const cells = await row.locator('td').allInnerTexts();
    assert.match(cells[0], new RegExp(`^${first} ${last}\\s+${email.replace(/\./g, '\\.')}\\s+“`));
    assert.equal(await row.locator('.lead-message').innerText(), `“${message}”`);
    assert.deepEqual(cells.slice(1, 4), ['Offline', 'Showroom Honda', 'Sales']);
    const lead = await leadOf(agent, leadId);
    assert.equal(lead.status, 200, JSON.stringify(lead.data));
    assert.equal(lead.data.lead.message, message);
    assert.deepEqual(lead.data.lead.sources.map((s) => s.origin).sort(), ['message_left', 'offline']);
    assert.ok(lead.data.history.some((x) => x.what === 'merged'), 'the message was merged into the lead');

    // Ann opens the chat from the lead: closed after hours, the message under its lead.
    await row.getByRole('button', { name: `Open the chat with ${first} ${last}` }).click();
    await agent.locator('#t-title', { hasText: `${first} ${last}` }).waitFor({ timeout: LONG });
    await agent.locator('#t-state', { hasText: 'Offline' }).waitFor({ timeout: LONG });
    const card = agent.locator('#t-leads .lead-card', { hasText: `${first} ${last}` });
    await card.waitFor({ timeout: LONG });
    assert.equal(await card.locator('.lead-message').innerText(), `“${message}”`);

    assert.deepEqual(problems, []);
  } finally {
    restored = await routing.restore(original);
    await annAvailable(agent);
    await browser.close();
  }
  assert.equal(restored, null);
});

// The Admin tab and the Profile dialog in a real Chromium (and the audit trail, last). An agent (Ann) has no Admin tab. A
// manager (Maria) reads the dashboard, adds a department and sets its routing, adds an agent
// with a membership, adds a website and changes its look (a colour pair without enough contrast
// is refused with the server's message beside the field), builds its pre-chat form, adds a CRM
// webhook whose test send fails (nothing listens there) and uploads a cropped photo that then
// shows in the header. What the test adds to the demo group is removed again at the end.
// Run by libs/testkit/tests/browser.rs against a real stack seeded with the demo group
// (libs/rest/src/demo.rs), which sets SHOWROOM_BASE_URL and SHOWROOM_NODE_MODULES.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium } from './support.mjs';

const BASE = process.env.SHOWROOM_BASE_URL;
const SHOTS = process.env.SHOWROOM_SCREENSHOTS; // optional: where to save screenshots
const PASSWORD = 'showroom-demo';
const MANAGER = { email: 'maria@demo.showroom.test', name: 'Maria Lopez' };
const AGENT = { email: 'ann@demo.showroom.test', name: 'Ann Larson' };
const LONG = 15000; // generous, for things that do not have to be quick

async function shot(page, name, top = true) {
  if (!SHOTS) return;
  if (top) await page.evaluate(() => { const b = document.getElementById('admin-body'); if (b) b.scrollTop = 0; });
  await page.screenshot({ path: `${SHOTS}/${name}.png` });
}

const unique = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 6);

async function login(page, who) {
  await page.goto(`${BASE}/console`);
  await page.fill('#email', who.email);
  await page.fill('#password', PASSWORD);
  await page.click('#login-btn');
  await page.locator('#app').waitFor({ state: 'visible', timeout: LONG });
  await page.locator('#conn', { hasText: 'Online' }).waitFor({ timeout: LONG });
  await page.locator('#agent-name', { hasText: who.name }).waitFor({ timeout: LONG });
}

// A REST call from the page, with its session.
const rest = (page, method, path, body) => page.evaluate(async ([m, p, b]) => {
  const r = await fetch(p, { method: m, headers: b === undefined ? {} : { 'content-type': 'application/json' }, body: b === undefined ? undefined : JSON.stringify(b) });
  let data = null;
  try { data = await r.json(); } catch (_) { /* empty */ }
  return { status: r.status, data };
}, [method, path, body]);

const section = (page, name) => page.locator('#admin-root .a-nav button', { hasText: name }).click();

test('an agent has no Admin tab, but has a Profile', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');
  const browser = await launchChromium();
  const problems = [];
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.on('pageerror', (e) => problems.push(`ann's console: ${e.message}`));
    await login(page, AGENT);
    assert.equal(await page.locator('#tab-admin').isVisible(), false);
    assert.equal(await page.locator('#view-admin').isVisible(), false);
    await page.locator('#profile-open').waitFor();
    // Arrow keys walk the visible tabs only.
    await page.click('#tab-leads');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.getAttribute('#tab-search', 'aria-selected'), 'true');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.getAttribute('#tab-appts', 'aria-selected'), 'true');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.getAttribute('#tab-chats', 'aria-selected'), 'true');
    // The server agrees: no reports for an agent.
    assert.equal((await rest(page, 'GET', '/api/v1/reports/departments')).status, 403);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('a manager runs the admin pages and sets her photo', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');
  const browser = await launchChromium();
  const problems = [];
  const u = unique();
  const cleanup = []; // REST calls that undo what the test made, run at the end pass or fail
  let page = null;
  try {
    // A shopper starts a chat on /demo, so the dashboard has a chat to count.
    const shopper = await (await browser.newContext({ viewport: { width: 360, height: 740 } })).newPage();
    await shopper.goto(`${BASE}/demo`);
    await shopper.click('button.launch');
    await shopper.locator('.pick .dept', { hasText: 'Sales' }).first().click();
    await shopper.locator('.log li.bot').first().waitFor({ timeout: LONG });

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
    page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`maria's console: ${e.message}`));
    page.on('dialog', (d) => d.accept());
    await login(page, MANAGER);

    // ---- the dashboard ----
    await page.locator('#tab-admin').waitFor();
    await page.click('#tab-admin');
    assert.equal(await page.getAttribute('#tab-admin', 'aria-selected'), 'true');
    await section(page, 'Dashboard');
    await page.locator('#admin-dash table').waitFor({ timeout: LONG });
    await page.locator('#admin-dash-state', { hasText: /chats? ·/ }).waitFor({ timeout: LONG });
    const counts = await page.locator('#admin-dash td[data-k=chats]').allTextContents();
    assert.ok(counts.length >= 4, `a row per demo department: ${counts}`);
    for (const c of counts) assert.match(c, /^\d+$/);
    assert.ok(counts.reduce((n, c) => n + Number(c), 0) >= 1, 'the shopper’s chat is counted');
    assert.match(await page.locator('#admin-dash').innerText(), /Showroom Honda[\s\S]*Sales/);
    // The trend charts: one SVG per number, a dot per day with chats (all of them for the
    // chats chart), as many as the API's points; the previous period dashed behind.
    const trends = page.waitForResponse((r) => r.url().includes('/api/v1/reports/trends') && r.ok());
    await page.getByRole('button', { name: 'Last 30 days' }).click();
    assert.equal(await page.getAttribute('[data-range=month]', 'aria-pressed'), 'true');
    const trend = await (await trends).json();
    await page.locator('#admin-dash-state', { hasText: /chats? ·/ }).waitFor({ timeout: LONG });
    assert.equal(trend.bucket, 'day');
    assert.ok(trend.current.points.length >= 30 && trend.current.points.length <= 31, `30 days: ${trend.current.points.length}`);
    for (const id of ['chats', 'answered', 'missed-rate', 'pickup', 'leads', 'appointments', 'csat']) {
      await page.locator(`#dash-chart-${id} svg`).waitFor({ timeout: LONG });
    }
    assert.equal(await page.locator('#dash-chart-chats circle.c-dot').count(), trend.current.points.length, 'a dot per day');
    assert.equal(await page.getAttribute('#dash-chart-chats', 'data-points'), String(trend.current.points.length));
    const withPickup = trend.current.points.filter((p) => p.pickup_p50_secs != null).length;
    assert.equal(await page.locator('#dash-chart-pickup circle.c-dot').count(), withPickup, 'no dot where nobody picked up');
    assert.ok(await page.locator('#dash-chart-chats polyline.c-before').count() >= 1, 'the period before');
    assert.match(await page.locator('#dash-chart-chats .c-total').innerText(), /^\d+$/);
    // The last 90 days, and one rooftop.
    await page.getByRole('button', { name: 'Last 90 days' }).click();
    await page.locator('#dash-chart-chats[data-points="90"], #dash-chart-chats[data-points="91"]').waitFor({ timeout: LONG });
    const scoped = page.waitForResponse((r) => r.url().includes('/api/v1/reports/trends') && r.url().includes('rooftop_id='));
    await page.selectOption('#admin-dash-scope', { label: 'Showroom Honda' });
    assert.equal((await scoped).status(), 200);
    assert.match(await page.getAttribute('#admin-dash-csv', 'href'), /^\/api\/v1\/reports\/departments\.csv\?from=/);
    await page.selectOption('#admin-dash-scope', '');
    await page.getByRole('button', { name: 'Last 30 days' }).click();
    await page.locator('#dash-chart-chats[data-points="30"], #dash-chart-chats[data-points="31"]').waitFor({ timeout: LONG });
    await shot(page, 'admin-dashboard');

    // ---- rooftops and departments: a new department and its routing ----
    await section(page, 'Rooftops & departments');
    const honda = page.locator('#admin-rooftops [data-rooftop]', { has: page.locator('h3', { hasText: 'Showroom Honda' }) });
    await honda.waitFor({ timeout: LONG });
    const depName = `Parts ${u}`;
    await honda.getByLabel('New department').fill(depName);
    await honda.getByRole('button', { name: 'Add department' }).click();
    const dep = page.locator('#admin-rooftops li.a-dep', { hasText: depName });
    await dep.waitFor({ timeout: LONG });
    const depId = await dep.getAttribute('data-department');
    cleanup.push(['DELETE', `/api/v1/departments/${depId}`]);

    await dep.getByRole('button', { name: 'Routing' }).click();
    const routing = dep.locator('form.a-routing');
    await routing.waitFor({ timeout: LONG });
    await routing.getByRole('radio', { name: /^Ring/ }).check();
    await routing.getByLabel('Ring seconds').fill('0');
    await routing.getByRole('button', { name: 'Save routing' }).click();
    // The router's message names the field; it is shown beside it.
    const ringErr = routing.locator('.a-field', { has: page.getByLabel('Ring seconds') }).locator('.a-err');
    await ringErr.waitFor({ timeout: LONG });
    assert.match(await ringErr.innerText(), /ring_secs must be between 1 and 3600/);
    await routing.getByLabel('Ring seconds').fill('15');
    await routing.getByLabel('Wait time (s)').fill('90');
    await routing.getByLabel(/Only during business hours/).check();
    await routing.getByRole('button', { name: 'Add hours on Monday' }).click();
    await routing.getByRole('button', { name: 'Add hours on Monday' }).click(); // a second interval the same day
    await routing.getByLabel('Monday interval 1 closes').fill('12:00');
    await routing.getByLabel('Monday interval 2 opens').fill('13:00');
    await routing.getByLabel('Monday interval 2 closes').fill('18:00');
    await routing.getByRole('button', { name: 'Same hours on Tuesday as on Monday' }).click();
    await routing.getByRole('button', { name: 'Add holiday' }).click();
    await routing.getByLabel('Holiday 1 date').fill('2026-12-25');
    await routing.getByLabel('Holiday 1 name').fill('Christmas');
    await routing.getByRole('button', { name: 'Save routing' }).click();
    await routing.getByRole('button', { name: 'Saved' }).waitFor({ timeout: LONG });
    const saved = (await rest(page, 'GET', `/api/v1/departments/${depId}/routing`)).data.settings;
    assert.equal(saved.mode, 'ring');
    assert.equal(saved.ring_secs, 15);
    assert.equal(saved.wait_secs, 90);
    assert.deepEqual(saved.hours.intervals, [
      { weekday: 1, opens: '09:00', closes: '12:00' }, { weekday: 1, opens: '13:00', closes: '18:00' },
      { weekday: 2, opens: '09:00', closes: '12:00' }, { weekday: 2, opens: '13:00', closes: '18:00' }]);
    assert.deepEqual(saved.hours.closures, [{ date: '2026-12-25', label: 'Christmas' }]);

    // Its appointments: service visits only, hour-long slots, two a slot; a wrong value named.
    await dep.getByRole('button', { name: 'Appointments' }).click();
    const appts = dep.locator('form.a-appt-settings');
    await appts.waitFor({ timeout: LONG });
    for (const k of ['Test drive', 'Sales visit', 'Other']) await appts.getByLabel(k).uncheck();
    await appts.getByLabel('Service').check();
    await appts.getByLabel('Appointments per slot').fill('0');
    await appts.getByRole('button', { name: 'Save' }).click();
    await appts.locator('.a-field', { has: page.getByLabel('Appointments per slot') }).locator('.a-err').waitFor({ timeout: LONG });
    await appts.getByLabel('Appointments per slot').fill('2');
    await appts.getByLabel('Slot length (minutes)').fill('60');
    await appts.getByRole('button', { name: 'Save' }).click();
    await appts.getByRole('button', { name: 'Saved' }).waitFor({ timeout: LONG });
    assert.deepEqual((await rest(page, 'GET', `/api/v1/departments/${depId}/appointment-settings`)).data,
      { kinds: ['service'], slot_minutes: 60, capacity: 2 });
    const trail = (await rest(page, 'GET', '/api/v1/audit?kind=appointment_settings_changed')).data.events;
    assert.equal(trail[0].subject, `department:${depId}`);

    // A department in use cannot be deleted: the server's 409 message is shown.
    const sales = page.locator('#admin-rooftops [data-rooftop]', { has: page.locator('h3', { hasText: 'Showroom Honda' }) })
      .locator('li.a-dep', { has: page.locator('.a-dep-label', { hasText: /^Sales$/ }) });
    await sales.getByRole('button', { name: 'Delete' }).click();
    await sales.locator('.a-status.bad', { hasText: /^Not deleted: / }).waitFor({ timeout: LONG });

    // ---- agents: a new one with a membership ----
    await section(page, 'Agents');
    const form = page.locator('#admin-new-agent');
    await form.waitFor({ timeout: LONG });
    const email = `pat.${u}@demo.showroom.test`;
    await form.getByLabel('E-mail').fill(email);
    await form.getByLabel('First name').fill('Pat');
    await form.getByLabel('Last name').fill(`Quinn${u.replace(/\d/g, '')}`);
    await form.getByLabel('Role').selectOption('agent');
    await form.getByLabel('Password').fill('a-long-password-1');
    await form.getByRole('group', { name: 'Showroom Honda' }).getByLabel(depName).check();
    await form.getByRole('button', { name: 'Add agent' }).click();
    const agentRow = page.locator('#admin-agents tr', { hasText: email });
    await agentRow.waitFor({ timeout: LONG });
    assert.match(await agentRow.innerText(), new RegExp(`${depName} · Showroom Honda`));
    // Edited: fewer chats at once, and Honda's Service too (so Pat keeps a department when the
    // new one goes at the end).
    await agentRow.getByRole('button', { name: /^Edit / }).click();
    const editRow = page.locator('#admin-agents tr.a-edit-row:not([hidden])');
    await editRow.getByLabel('Max chats at once').fill('2');
    await editRow.getByRole('group', { name: 'Showroom Honda' }).getByLabel('Service').check();
    await editRow.getByRole('button', { name: 'Save' }).click();
    await editRow.getByRole('button', { name: 'Saved' }).waitFor({ timeout: LONG });
    await page.locator('#admin-agents tr', { hasText: email }).filter({ hasText: 'Service · Showroom Honda' }).waitFor({ timeout: LONG });
    assert.equal((await agentRow.locator('td').nth(2).innerText()).trim(), '2');
    await shot(page, 'admin-agents');
    // Pat leaves: deactivated (after the confirmation), Pat stays listed, marked, with no
    // department, and can be reactivated.
    await agentRow.getByRole('button', { name: /^Edit / }).click();
    await editRow.getByRole('button', { name: 'Deactivate…' }).click();
    const goneRow = page.locator('#admin-agents tr.a-deactivated', { hasText: email });
    await goneRow.waitFor({ timeout: LONG });
    assert.match(await goneRow.innerText(), /Deactivated/);
    assert.doesNotMatch(await goneRow.innerText(), /Service · Showroom Honda/);
    const loginStatus = await page.evaluate(async (e) => (await fetch('/api/v1/auth/login', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: e, password: 'a-long-password-1' }) })).status, email);
    assert.equal(loginStatus, 401, 'a deactivated agent cannot log in');
    await goneRow.getByRole('button', { name: /^Reactivate / }).click();
    await page.locator('#admin-agents tr:not(.a-deactivated)', { hasText: email }).waitFor({ timeout: LONG });

    // ---- websites: a new one, its look, its pre-chat form ----
    await section(page, 'Websites');
    const site = `admin-${u}.example`;
    await page.locator('#admin-new-site summary').click();
    await page.locator('#admin-new-site').getByLabel('Rooftop').selectOption({ label: 'Showroom Honda' });
    await page.locator('#admin-new-site').getByLabel('Name', { exact: true }).fill(site);
    await page.locator('#admin-new-site').getByLabel(/Allowed origins/).fill(`https://www.${site}`);
    await page.locator('#admin-new-site').getByRole('button', { name: 'Add website' }).click();
    await page.locator('.a-site-btn[aria-current=true]', { hasText: site }).waitFor({ timeout: LONG });
    const general = page.locator('#admin-site-general');
    await general.locator('#admin-snippet').waitFor({ timeout: LONG });
    const snippet = await general.locator('#admin-snippet').inputValue();
    assert.match(snippet, /<script[^>]+widget\.js/);
    await general.getByRole('button', { name: 'Copy' }).click();
    await general.getByRole('status').filter({ hasText: 'Copied' }).waitFor({ timeout: LONG });

    // White text on a near-white colour: refused, the message beside the text colour.
    await general.getByLabel('Colour as #rrggbb', { exact: true }).fill('#ffffff');
    await general.getByLabel('Text colour as #rrggbb', { exact: true }).fill('#eeeeee');
    await general.getByRole('button', { name: 'Save' }).click();
    const contrast = general.locator('.a-field', { has: page.locator('#admin-text-color') }).locator('.a-err');
    await contrast.waitFor({ timeout: LONG });
    assert.match(await contrast.innerText(), /contrast/);
    assert.equal(await general.getByLabel('Text colour as #rrggbb', { exact: true }).getAttribute('aria-invalid'), 'true');
    await general.getByLabel('Colour as #rrggbb', { exact: true }).fill('#0b6e4f');
    await general.getByLabel('Text colour as #rrggbb', { exact: true }).fill('#ffffff');
    await general.getByLabel('Icon').selectOption('car');
    await general.getByLabel('Position').selectOption('left');
    await general.getByLabel(/Launcher label/).fill('Chat with us');
    assert.match(await general.locator('#admin-preview').innerText(), /Chat with us/);
    await general.getByRole('button', { name: 'Save' }).click();
    await general.getByRole('button', { name: 'Saved' }).waitFor({ timeout: LONG });
    assert.equal(await contrast.isVisible(), false);
    const siteId = await page.locator('.a-site-btn[aria-current=true]').getAttribute('data-site');
    const look = (await rest(page, 'GET', `/api/v1/websites/${siteId}`)).data.appearance;
    assert.equal(look.color, '#0b6e4f');
    assert.equal(look.icon, 'car');
    assert.equal(look.position, 'left');
    assert.equal(look.launcher_label, 'Chat with us');

    // The bot: Lead Gate off, a Spanish greeting.
    const bot = page.locator('#admin-site-bot');
    await bot.getByRole('checkbox', { name: /^Lead Gate/ }).waitFor({ timeout: LONG });
    await bot.getByRole('checkbox', { name: /^Lead Gate/ }).uncheck();
    await bot.getByLabel('Bot name').fill('Ava');
    await bot.locator('summary').click();
    await bot.getByLabel('Greeting (Español)').fill('¡Hola! Soy {bot}.');
    await bot.getByRole('button', { name: 'Save' }).click();
    await bot.getByRole('button', { name: 'Saved' }).waitFor({ timeout: LONG });
    const botNow = (await rest(page, 'GET', `/api/v1/websites/${siteId}/bot`)).data;
    assert.equal(botNow.lead_gate, false);
    assert.equal(botNow.bot_name, 'Ava');
    assert.equal(botNow.texts.es.greeting, '¡Hola! Soy {bot}.');

    // The form builder: a drop-down mapped to a routing variable, and a first name moved above it.
    const pre = page.locator('#admin-form-pre_chat');
    await pre.getByLabel('Kind of field to add').waitFor({ timeout: LONG });
    await pre.getByLabel('Kind of field to add').selectOption('select');
    await pre.getByRole('button', { name: 'Add field' }).click();
    const f1 = pre.locator('li.a-fb-field').nth(0);
    await f1.getByLabel('Label').fill('What are you interested in?');
    assert.equal(await f1.getByLabel('Key').inputValue(), 'what_are_you_interested_in');
    await f1.getByLabel('Key').fill('interest');
    await f1.getByLabel('Field 1 option 1').fill('New');
    await f1.getByLabel('Field 1 option 2').fill('New'); // twice: refused
    await f1.getByRole('button', { name: 'Add option' }).click();
    await f1.getByLabel('Field 1 option 3').fill('Trade-in');
    await f1.getByLabel('Required').check();
    await f1.getByLabel('Answer also goes to').selectOption('variable');
    await f1.getByLabel('Field 1 variable name').fill('interest');
    await pre.getByLabel('Kind of field to add').selectOption('input');
    await pre.getByRole('button', { name: 'Add field' }).click();
    const f2 = pre.locator('li.a-fb-field').nth(1);
    await f2.getByLabel('Label').fill('First name');
    await f2.getByLabel('Answer also goes to').selectOption('contact:first_name');
    await f2.getByRole('button', { name: 'Move field 2 up' }).click();
    assert.equal(await pre.locator('li.a-fb-field').nth(0).getByLabel('Label').inputValue(), 'First name');
    await pre.getByRole('button', { name: 'Save pre-chat form' }).click();
    const optErr = pre.locator('li.a-fb-field').nth(1).locator('.a-options .a-err');
    await optErr.waitFor({ timeout: LONG });
    assert.match(await optErr.innerText(), /different options/);
    await pre.getByLabel('Field 2 option 2').fill('Used');
    await pre.getByRole('button', { name: 'Save pre-chat form' }).click();
    await pre.getByRole('button', { name: 'Saved' }).waitFor({ timeout: LONG });
    const formNow = (await rest(page, 'GET', `/api/v1/websites/${siteId}/forms/pre_chat`)).data.fields;
    assert.deepEqual(formNow.map((f) => f.id), ['first_name', 'interest']);
    assert.deepEqual(formNow[0].maps_to, { contact: 'first_name' });
    assert.deepEqual(formNow[1].options, ['New', 'Used', 'Trade-in']);
    assert.deepEqual(formNow[1].maps_to, { variable: 'interest' });
    assert.equal(formNow[1].required, true);

    // Limits and e-mails.
    const lim = page.locator('#admin-site-routing');
    await lim.getByLabel('Max open chats on this website').fill('25');
    await lim.getByRole('button', { name: 'Save' }).click();
    await lim.getByRole('button', { name: 'Saved' }).waitFor({ timeout: LONG });
    assert.equal((await rest(page, 'GET', `/api/v1/websites/${siteId}/routing`)).data.max_sessions, 25);
    const mail = page.locator('#admin-site-mail');
    await mail.getByLabel(/Forward messages left to/).fill(`sales@${site}`);
    await mail.getByRole('button', { name: 'Save' }).click();
    await mail.getByRole('button', { name: 'Saved' }).waitFor({ timeout: LONG });
    await page.evaluate(() => {
      const b = document.getElementById('admin-body'), c = document.getElementById('admin-site-general');
      b.scrollTop += c.getBoundingClientRect().top - b.getBoundingClientRect().top - 48;
    });
    await shot(page, 'admin-website', false);

    // ---- CRM: a webhook nobody listens to; its test send fails, and says so ----
    await section(page, 'CRM');
    await page.locator('#admin-new-destination summary').click();
    const dest = page.locator('#admin-new-destination');
    const hook = `Test hook ${u}`;
    await dest.getByLabel('Name', { exact: true }).fill(hook);
    await dest.getByLabel('Rooftop').selectOption({ label: 'Showroom Honda' });
    await dest.getByLabel('Department').selectOption({ label: depName });
    await dest.getByRole('radio', { name: /^Webhook/ }).check();
    await dest.getByLabel('URL').fill('http://127.0.0.1:9/leads');
    const secret = await dest.getByLabel('Signing secret').inputValue();
    assert.match(secret, /^whsec_[A-Za-z0-9+/=]{40,}$/);
    await dest.getByRole('button', { name: 'Add destination' }).click();
    await dest.getByRole('button', { name: 'Saved' }).waitFor({ timeout: LONG });
    const card = page.locator('#admin-destinations .a-dest', { hasText: hook });
    await card.waitFor({ timeout: LONG });
    cleanup.push(['DELETE', `/api/v1/crm/destinations/${await card.getAttribute('data-destination')}`]);
    // The secret is shown this once on the new card; the server answers only a hint of it.
    assert.equal(await card.locator('.a-fresh-secret input').inputValue(), secret);
    assert.match(await card.innerText(), /whsec_…/);
    const listed = JSON.stringify((await rest(page, 'GET', '/api/v1/crm/destinations')).data);
    assert.ok(!listed.includes(secret.slice(6)), 'the secret is never read back');
    await card.getByRole('button', { name: 'Send test' }).click();
    await card.locator('.a-test-result.bad', { hasText: /^Test failed/ }).waitFor({ timeout: 30000 });
    await page.locator('#admin-deliveries').getByRole('button', { name: 'Refresh' }).click();
    await page.locator('#admin-deliveries tr', { hasText: hook }).first().waitFor({ timeout: LONG });
    await card.getByRole('button', { name: 'Delete' }).click();
    await card.waitFor({ state: 'detached', timeout: LONG });
    cleanup.pop();

    // ---- Profile: a cropped photo, shown in the header ----
    await page.click('#profile-open');
    const dialog = page.locator('#profile-dialog');
    await dialog.waitFor();
    await dialog.locator('#profile-first').waitFor({ timeout: LONG });
    assert.equal(await dialog.locator('#profile-email').inputValue(), MANAGER.email);
    // A 480×320 picture drawn in the page, as a PNG file.
    const png = await page.evaluate(() => {
      const c = document.createElement('canvas');
      c.width = 480; c.height = 320;
      const x = c.getContext('2d');
      const g = x.createLinearGradient(0, 0, 480, 320);
      g.addColorStop(0, '#1a56db'); g.addColorStop(1, '#f59e0b');
      x.fillStyle = g; x.fillRect(0, 0, 480, 320);
      x.fillStyle = '#fff'; x.beginPath(); x.arc(240, 140, 70, 0, Math.PI * 2); x.fill();
      x.fillRect(150, 220, 180, 100);
      return c.toDataURL('image/png').split(',')[1];
    });
    await dialog.locator('#profile-file').setInputFiles({ name: 'maria.png', mimeType: 'image/png', buffer: Buffer.from(png, 'base64') });
    const canvas = dialog.locator('#profile-canvas');
    await canvas.waitFor();
    await dialog.locator('#profile-zoom').fill('1.6');
    const box = await canvas.boundingBox();
    await page.mouse.move(box.x + 120, box.y + 120);
    await page.mouse.down();
    await page.mouse.move(box.x + 140, box.y + 110, { steps: 4 });
    await page.mouse.up();
    await canvas.focus();
    await page.keyboard.press('ArrowLeft');
    await dialog.locator('#profile-upload').click();
    await dialog.locator('#profile-photo-state', { hasText: 'Your photo is saved.' }).waitFor({ timeout: LONG });
    const header = page.locator('#agent-photo');
    await header.waitFor({ state: 'visible' });
    const src = await header.getAttribute('src');
    assert.ok(src, 'the header shows the photo');
    const size = await page.evaluate(async (url) => {
      const b = await createImageBitmap(await (await fetch(url)).blob());
      return [b.width, b.height];
    }, src);
    assert.deepEqual(size, [222, 222]);
    assert.equal((await rest(page, 'GET', '/api/v1/me')).data.photo_url, src);
    // The profile saves as it is.
    await dialog.getByRole('button', { name: 'Save profile' }).click();
    await dialog.getByRole('button', { name: 'Saved' }).waitFor({ timeout: LONG });
    await shot(page, 'profile', false);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });

    // After a reload the header still shows it.
    await page.reload();
    await page.locator('#agent-photo').waitFor({ state: 'visible', timeout: LONG });

    // ---- the new department goes again (the agent's membership with it) ----
    await page.click('#tab-admin');
    await section(page, 'Rooftops & departments');
    const dep2 = page.locator('#admin-rooftops li.a-dep', { hasText: depName });
    await dep2.waitFor({ timeout: LONG });
    await dep2.getByRole('button', { name: 'Delete' }).click();
    const gone = await Promise.race([
      dep2.waitFor({ state: 'detached', timeout: LONG }).then(() => 'deleted'),
      dep2.locator('.a-status.bad').waitFor({ timeout: LONG }).then(() => 'refused'),
    ]);
    if (gone === 'deleted') cleanup.splice(cleanup.findIndex(([, p]) => p.endsWith(depId)), 1);

    // Narrow: the admin pages stay usable at 800 pixels.
    await page.setViewportSize({ width: 800, height: 800 });
    await section(page, 'Agents');
    await page.locator('#admin-agents').waitFor({ timeout: LONG });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `no sideways scrolling at 800 px (${overflow} px too wide)`);

    assert.deepEqual(problems, []);
  } finally {
    if (page) for (const [m, p] of cleanup) await rest(page, m, p).catch(() => {});
    await browser.close();
  }
});

test('an admin issues an integrator credential, sees it listed and revokes it', async () => {
  const ADMIN = { email: 'sam@demo.showroom.test', name: 'Sam Patel' };
  const browser = await launchChromium();
  const problems = [];
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.on('pageerror', (e) => problems.push(`sam's console: ${e.message}`));
    page.on('dialog', (d) => d.accept());
    await login(page, ADMIN);
    await page.click('#tab-admin');
    await section(page, 'CRM');
    const card = page.locator('#admin-integrations');
    await card.locator('input').first().waitFor({ timeout: LONG });
    const name = 'Acme CRM ' + unique();
    await card.getByLabel('Name of the integration').fill(name);
    await card.getByRole('button', { name: 'Issue credential' }).click();
    // The credential is shown once, with a download of its own name.
    const creds = card.locator('#admin-integration-creds textarea');
    await creds.waitFor({ timeout: LONG });
    assert.match(await creds.inputValue(), /-----BEGIN NATS USER JWT-----/);
    assert.match(await card.locator('#admin-integration-creds a').getAttribute('download'), /^Acme-CRM-.*\.creds$/);
    const row = card.locator('#admin-integrations-list tr', { hasText: name });
    await row.waitFor({ timeout: LONG });
    assert.match(await row.innerText(), /Sam Patel[\s\S]*Never[\s\S]*Active/);
    await shot(page, 'admin-integrations');
    // The list never shows the secret again.
    const listed = JSON.stringify((await rest(page, 'GET', '/api/v1/integrations')).data);
    assert.ok(!listed.includes('NKEY SEED'), 'the secret is listed');
    await row.getByRole('button', { name: 'Revoke ' + name }).click();
    await row.locator('.a-badge', { hasText: /^Revoked/ }).waitFor({ timeout: LONG });
    assert.equal(await row.getByRole('button', { name: /Revoke/ }).count(), 0);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('an admin reads the audit trail, filters it, downloads it and verifies its chain', async () => {
  const ADMIN = { email: 'sam@demo.showroom.test', name: 'Sam Patel' };
  const browser = await launchChromium();
  const problems = [];
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true })).newPage();
    page.on('pageerror', (e) => problems.push(`sam's console: ${e.message}`));
    await login(page, ADMIN);
    await page.click('#tab-admin');
    await section(page, 'Audit trail');
    const rows = page.locator('#admin-audit-rows tr');
    await rows.first().waitFor({ timeout: LONG });
    // Sam's own sign-in is there, with the address it came from.
    const mine = page.locator('#admin-audit-rows tr[data-kind="sign_in"]', { hasText: ADMIN.email });
    await mine.first().waitFor({ timeout: LONG });
    assert.match(await mine.first().innerText(), /Signed in[\s\S]*127\.0\.0\.1/);
    // Filtered to one kind, only that kind is listed, and the CSV link carries the filter.
    await page.selectOption('#admin-audit-kind', 'sign_in');
    await page.waitForFunction(() => {
      const trs = [...document.querySelectorAll('#admin-audit-rows tr')];
      return trs.length > 0 && trs.every((tr) => tr.getAttribute('data-kind') === 'sign_in');
    }, null, { timeout: LONG });
    assert.match(await page.locator('#admin-audit-csv').getAttribute('href'), /audit\.csv\?kind=sign_in$/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#admin-audit-csv')]);
    assert.equal(download.suggestedFilename(), 'audit.csv');
    await page.click('#admin-audit-verify');
    await page.locator('#admin-audit-verdict', { hasText: /The chain is intact: \d+ rows/ }).waitFor({ timeout: LONG });
    // The second check is anchored to the first one's head, kept in the browser.
    await page.click('#admin-audit-verify');
    await page.locator('#admin-audit-verdict', { hasText: /of your last check is still there/ }).waitFor({ timeout: LONG });
    await shot(page, 'admin-audit');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

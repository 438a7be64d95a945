// A website's own pre-chat form (the form builder's) in a real Chromium: a manager defines one
// with every kind of field over REST; a shopper on /demo (a 360-pixel phone) fills it in, is told
// about a file too large, a file of a type the field does not take and an agreement left
// unticked, uploads a picture and starts; the form filled the names and the e-mail, so the Lead
// Gate asks nothing, and the agent sees the answers (and downloads the picture) in /console.
// Run by libs/testkit/tests/browser.rs against a real stack seeded with the demo group
// (libs/rest/src/demo.rs), which sets SHOWROOM_BASE_URL and SHOWROOM_NODE_MODULES (where
// deploy/install.sh put playwright-core). It removes the form again at the end, pass or fail: node
// runs the files in name order, so gate.test.mjs and internal.test.mjs come after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, shot } from './support.mjs';


const BASE = process.env.SHOWROOM_BASE_URL;
const AGENT = { email: 'ann@demo.showroom.test', password: 'showroom-demo' };
const MANAGER = { email: 'maria@demo.showroom.test', password: 'showroom-demo' };
const HOSTILE = '<img src=x onerror="window.pwned=1"> <b>trade</b> my 2015 Civic?';
const AGREEMENT = 'I agree that Showroom Honda may contact me about my request.';
// A 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

const FORM = {
  fields: [
    { id: 'intro', label: 'Tell us a little about you, and we will find the right person.', type: 'label' },
    { id: 'first', label: 'First name', type: 'input', input: 'text', required: true, maps_to: { contact: 'first_name' } },
    { id: 'last', label: 'Last name', type: 'input', input: 'text', required: true, maps_to: { contact: 'last_name' } },
    { id: 'mail', label: 'E-mail', type: 'input', input: 'email', required: true, maps_to: { contact: 'email' } },
    {
      id: 'interest', label: 'What are you interested in?', type: 'select', options: ['New', 'Used', 'Trade-in'],
      required: true, maps_to: { variable: 'interest' },
    },
    { id: 'visit', label: 'When would you like to visit?', type: 'radio', options: ['This week', 'Next week', 'Just looking'] },
    { id: 'extras', label: 'Anything else?', type: 'checkboxes', options: ['Financing', 'Test drive', 'Extended warranty'] },
    { id: 'notes', label: 'Notes', type: 'textarea' },
    { id: 'terms', label: 'Contact', type: 'agreement', text: AGREEMENT },
    { id: 'docs', label: 'A photo or a quote', type: 'attachment', accept: '.pdf,image/*' },
  ],
};

// REST as the manager (a bearer token from the login).
async function rest(token, method, path, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try { data = JSON.parse(text); } catch (_) { /* not JSON */ }
  return { status: res.status, data, text };
}

// The id of the element focused inside the widget's shadow root.
const focusedId = (page) => page.evaluate(() => document.querySelector('showroom-widget').shadowRoot.activeElement?.id || null);

test('a shopper fills the website’s pre-chat form, files included, and the agent sees the answers', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');

  // The manager finds the demo website and gives it a pre-chat form with every kind of field.
  const login = await fetch(`${BASE}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(MANAGER),
  });
  assert.equal(login.status, 200, 'the manager logs in');
  const { token } = await login.json();
  const sites = await rest(token, 'GET', '/api/v1/websites');
  assert.equal(sites.status, 200, sites.text);
  const site = sites.data.find((w) => w.widget_key === 'demo');
  assert.ok(site, 'the demo website is listed');
  const formPath = `/api/v1/websites/${site.id}/forms/pre_chat`;

  const browser = await launchChromium();
  const problems = [];
  let agent = null, removed = null;
  try {
    const put = await rest(token, 'PUT', formPath, FORM);
    assert.equal(put.status, 200, put.text);
    assert.deepEqual((await rest(token, 'GET', formPath)).data.fields.map((f) => f.id), FORM.fields.map((f) => f.id));

    // The agent logs in and becomes Available.
    agent = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    agent.on('pageerror', (e) => problems.push(`console page: ${e.message}`));
    await agent.goto(`${BASE}/console`);
    await agent.fill('#email', AGENT.email);
    await agent.fill('#password', AGENT.password);
    await agent.click('#login-btn');
    await agent.locator('#agent-name').filter({ hasText: 'Ann Larson' }).waitFor();
    await agent.selectOption('#status', 'available');

    // A shopper opens the widget: the form is there, under a department choice, instead of the buttons.
    const page = await (await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'en-US' })).newPage();
    page.on('pageerror', (e) => problems.push(`demo page: ${e.message}`));
    await page.goto(`${BASE}/demo`);
    await page.click('button.launch');
    const form = page.locator('form.pre');
    await form.waitFor();
    assert.equal(await page.locator('.pick .dept').count(), 0, 'no department buttons with a pre-chat form');
    const dept = form.getByLabel('Department', { exact: true });
    assert.deepEqual(await dept.locator('option').allTextContents(), ['Sales · Showroom Honda', 'Service · Showroom Honda']);
    assert.equal(await focusedId(page), 'sr-pre-dept', 'focus goes to the first field');
    await form.locator('.flabel', { hasText: 'Tell us a little about you' }).waitFor();
    const first = form.getByLabel('First name', { exact: true });
    const last = form.getByLabel('Last name', { exact: true });
    const mail = form.getByLabel('E-mail', { exact: true });
    const interest = form.getByLabel('What are you interested in?', { exact: true });
    const notes = form.getByLabel('Notes (optional)', { exact: true });
    const agree = form.getByRole('checkbox', { name: AGREEMENT });
    const file = form.getByLabel('A photo or a quote (optional)', { exact: true });
    assert.equal(await mail.getAttribute('type'), 'email');
    assert.equal(await first.getAttribute('autocomplete'), 'given-name');
    assert.equal(await file.getAttribute('accept'), '.pdf,image/*');
    assert.equal(await form.getByRole('group', { name: 'When would you like to visit? (optional)' }).getByRole('radio').count(), 3);
    assert.equal(await form.getByRole('group', { name: 'Anything else? (optional)' }).getByRole('checkbox').count(), 3);
    assert.equal(await form.getByRole('group', { name: 'Contact' }).getByRole('checkbox').count(), 1);

    // The widget's own words come in Spanish too; the dealer's labels stay as they are.
    await page.locator('.langs button[lang="es"]').click();
    await form.getByLabel('Departamento', { exact: true }).waitFor();
    await form.getByLabel('Notes (opcional)', { exact: true }).waitFor();
    assert.equal(await interest.locator('option').first().textContent(), 'Elija…');
    await form.getByRole('button', { name: 'Empezar a chatear' }).waitFor();
    await page.locator('.langs button[lang="en"]').click();
    await form.getByRole('button', { name: 'Start chatting' }).waitFor();

    // Files: one too large (refused before it is sent), one whose bytes are not what its name
    // says (refused by the server), then a picture, which goes up.
    const fileBox = form.locator('.fld').filter({ has: page.locator('input[type=file]') });
    const fileError = fileBox.locator('.ferr');
    await file.setInputFiles({ name: 'brochure.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(10.5 * 1024 * 1024, 0x41) });
    await fileError.filter({ hasText: 'brochure.pdf is too large: a file may be at most 10 MB.' }).waitFor();
    assert.equal(await file.getAttribute('aria-invalid'), 'true');
    assert.match(await file.getAttribute('aria-describedby'), new RegExp(`\\b${await fileError.getAttribute('id')}\\b`));
    await file.setInputFiles({ name: 'notes.pdf', mimeType: 'application/pdf', buffer: Buffer.from('Just my notes, in plain text.\n') });
    await fileError.filter({ hasText: "notes.pdf can't be attached here: this field takes .pdf,image/*." }).waitFor();
    assert.equal(await file.getAttribute('aria-invalid'), 'true');
    await file.setInputFiles({ name: 'car.png', mimeType: 'image/png', buffer: PNG });
    await fileBox.locator('.files li', { hasText: `car.png (${PNG.length} B)` }).waitFor();
    assert.equal(await fileError.isVisible(), false, 'the error goes once a file is taken');
    assert.equal(await file.getAttribute('aria-invalid'), 'false');
    assert.equal(await fileBox.locator('.files li').count(), 1);
    assert.equal(await fileBox.getByRole('button', { name: 'Remove car.png' }).count(), 1);

    // Everything but the agreement, with an e-mail the server will refuse.
    await first.fill('Maria');
    await last.fill('Lopez');
    await mail.fill('maria@example');
    await interest.selectOption('Trade-in');
    await form.getByRole('radio', { name: 'This week' }).check();
    await form.getByRole('checkbox', { name: 'Financing' }).check();
    await form.getByRole('checkbox', { name: 'Test drive' }).check();
    await notes.fill(HOSTILE);
    const start = form.getByRole('button', { name: 'Start chatting' });
    await start.click();
    // The agreement must be ticked: said next to it, and it gets the focus.
    // (An inner locator of `has` is relative to the field's box: a page-level one.)
    const agreeError = form.locator('.fld').filter({ has: page.getByRole('checkbox', { name: AGREEMENT }) }).locator('.ferr');
    await agreeError.filter({ hasText: 'Please tick this box to continue.' }).waitFor();
    assert.equal(await agree.getAttribute('aria-invalid'), 'true');
    assert.match(await agree.getAttribute('aria-describedby'), new RegExp(`\\b${await agreeError.getAttribute('id')}\\b`));
    assert.equal(await focusedId(page), await agree.getAttribute('id'));
    assert.equal(await first.getAttribute('aria-invalid'), 'false');
    await form.locator('.ferr[role=alert]', { hasText: 'Please check the fields marked below.' }).waitFor();
    await shot(page, 'widget-form');

    // Ticked, it goes to the server, which names the e-mail: next to it, with the focus.
    await agree.check();
    await start.click();
    const mailError = form.locator('.fld').filter({ has: page.getByLabel('E-mail', { exact: true }) }).locator('.ferr');
    await mailError.filter({ hasText: 'This field is not a complete e-mail address (like jane@example.com).' }).waitFor();
    assert.equal(await mail.getAttribute('aria-invalid'), 'true');
    assert.equal(await agree.getAttribute('aria-invalid'), 'false');
    assert.equal(await focusedId(page), await mail.getAttribute('id'));
    assert.equal(await page.locator('.log li').count(), 0, 'nothing started');

    // Fixed, the chat starts: the form told the bot everything, so it asks nothing.
    await mail.fill('maria@example.com');
    await start.click();
    await page.locator('.line', { hasText: 'Waiting for an agent…' }).first().waitFor();
    assert.equal(await page.locator('.pick').isVisible(), false);

    // The agent takes it, and sees the answers: the agreement's text, the picture as a link.
    const respond = agent.locator('#list-incoming button', { hasText: 'Respond' });
    await respond.waitFor();
    await respond.click();
    const answers = agent.locator('#t-form');
    await answers.waitFor();
    await agent.locator('#t-contact', { hasText: 'Maria Lopez · maria@example.com' }).waitFor();
    // Read until the answers settle: the chat's details render again as its frames arrive.
    const read = () => answers.locator('dt').evaluateAll((dts) => dts.map((dt) => [dt.textContent, dt.nextElementSibling ? dt.nextElementSibling.textContent : null]));
    const settled = async (/** @type {string[][]} */ expected) => {
      let rows = await read();
      for (let i = 0; i < 50 && JSON.stringify(rows) !== JSON.stringify(expected); i += 1) {
        await agent.waitForTimeout(100);
        rows = await read();
      }
      return rows;
    };
    const want = [
      ['First name', 'Maria'],
      ['Last name', 'Lopez'],
      ['E-mail', 'maria@example.com'],
      ['What are you interested in?', 'Trade-in'],
      ['When would you like to visit?', 'This week'],
      ['Anything else?', 'Financing, Test drive'],
      ['Notes', HOSTILE],
      ['Contact', `✓ ${AGREEMENT}`],
      ['A photo or a quote', `car.png (${PNG.length} B)`],
    ];
    assert.deepEqual(await settled(want), want);
    assert.equal(await answers.locator('img, b').count(), 0, 'answers are text');
    assert.equal(await agent.evaluate(() => window.pwned), undefined);
    const link = answers.getByRole('link', { name: 'car.png' });
    const href = await link.getAttribute('href');
    assert.match(href, /^\/api\/v1\/attachments\/[0-9a-f-]{36}$/);
    await shot(agent, 'console-form');

    // The link downloads the very picture, for the agent's session only.
    const got = await agent.evaluate(async (url) => {
      const r = await fetch(url);
      const bytes = new Uint8Array(await r.arrayBuffer());
      return { status: r.status, type: r.headers.get('content-type'), disposition: r.headers.get('content-disposition'),
        nosniff: r.headers.get('x-content-type-options'), bytes: [...bytes] };
    }, href);
    assert.equal(got.status, 200);
    assert.equal(got.type, 'image/png');
    assert.match(got.disposition, /^attachment/);
    assert.equal(got.nosniff, 'nosniff');
    assert.equal(got.bytes.length, PNG.length);
    assert.deepEqual(Buffer.from(got.bytes), PNG);
    assert.equal((await fetch(`${BASE}${href}`)).status, 401, 'no session, no file');

    // The Lead Gate asked nothing: at most the bot's line that someone is coming.
    await page.locator('.log li.system', { hasText: 'Ann Larson joined the chat.' }).waitFor();
    const botLines = await page.locator('.log li.bot .text').allTextContents();
    assert.ok(botLines.length <= 1, `the bot said: ${JSON.stringify(botLines)}`);
    for (const line of botLines) assert.match(line, /Someone will be right with you/);

    await agent.click('#end');
    await page.locator('.line', { hasText: 'This chat has ended' }).first().waitFor();
    assert.deepEqual(problems, []);
  } finally {
    // Leave the demo website as the other tests expect it: no pre-chat form, Ann Available.
    removed = await rest(token, 'PUT', formPath, { fields: [] });
    if (agent) await agent.selectOption('#status', 'available').catch(() => {});
    await browser.close();
  }
  assert.equal(removed.status, 200, removed.text);
});

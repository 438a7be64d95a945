// The Lead Gate and the leave-a-message form in a real Chromium: a Spanish shopper on /demo (a
// 360-pixel phone) answers the bot in Spanish and reaches an agent in /console; then, with nobody
// available, another shopper gets the leave-a-message form. Run by libs/testkit/tests/browser.rs
// against a real stack seeded with the demo group (libs/rest/src/demo.rs), which sets
// SHOWROOM_BASE_URL and SHOWROOM_NODE_MODULES (where deploy/install.sh put playwright-core).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, shot } from './support.mjs';


const BASE = process.env.SHOWROOM_BASE_URL;
const AGENT = { email: 'ann@demo.showroom.test', password: 'showroom-demo' };

// A shopper's page on /demo, and helpers to talk to the bot.
async function shopperPage(browser, locale, problems) {
  const page = await (await browser.newContext({ viewport: { width: 360, height: 740 }, locale })).newPage();
  page.on('pageerror', (e) => problems.push(`demo page (${locale}): ${e.message}`));
  await page.goto(`${BASE}/demo`);
  const box = page.locator('.compose input');
  return {
    page,
    botSays: (text) => page.locator('.log li.bot', { hasText: text }).last().waitFor(),
    answer: async (text) => { await box.fill(text); await box.press('Enter'); },
  };
}

// The id of the element focused inside the widget's shadow root.
const focusedId = (page) => page.evaluate(() => document.querySelector('showroom-widget').shadowRoot.activeElement?.id || null);

test('a Spanish shopper answers the Lead Gate; with nobody available another leaves a message', async () => {
  assert.ok(BASE, 'SHOWROOM_BASE_URL is set');
  const browser = await launchChromium();
  const problems = [];
  try {
    // The agent logs in and becomes Available.
    const agent = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    agent.on('pageerror', (e) => problems.push(`console page: ${e.message}`));
    await agent.goto(`${BASE}/console`);
    await agent.fill('#email', AGENT.email);
    await agent.fill('#password', AGENT.password);
    await agent.click('#login-btn');
    await agent.locator('#agent-name').filter({ hasText: 'Ann Larson' }).waitFor();
    await agent.selectOption('#status', 'available');

    // A browser in Spanish gets the widget in Spanish, and starts without choosing a department.
    const es = await shopperPage(browser, 'es-MX', problems);
    await es.page.locator('button.launch', { hasText: 'Chatee con nosotros' }).click();
    assert.equal(await es.page.locator('.langs button[lang="es"]').getAttribute('aria-pressed'), 'true');
    await es.page.locator('.pick button', { hasText: 'Empezar a chatear' }).click();
    await es.botSays('Hola, soy Asistente de Showroom Honda');
    await es.botSays('¿Con qué departamento podemos ayudarle? Sales, Service');
    await es.page.locator('.line', { hasText: 'Asistente' }).first().waitFor();
    // The departments are offered as quick replies; one sends its label.
    const sales = es.page.locator('.quick button', { hasText: 'Sales' });
    await sales.waitFor();
    assert.equal(await es.page.locator('.quick button').count(), 2);
    await shot(es.page, 'widget-gate');
    await sales.click();
    await es.page.locator('.log li.shopper', { hasText: 'Sales' }).waitFor();
    await es.botSays('¿Cuál es su nombre?');
    assert.equal(await es.page.locator('.quick').isVisible(), false, 'no department buttons once it is answered');
    await es.answer('Maria');
    await es.botSays('Gracias, Maria. ¿Y su apellido?');
    await es.answer('Lopez');
    await es.botSays('¿Cuál es el mejor correo electrónico o número de celular para contactarle?');
    await es.botSays('Al darnos su número de celular acepta que Showroom Honda');
    await es.answer('(312) 555-2368');
    await es.botSays('¡Gracias, Maria! Alguien le atenderá en un momento.');
    await es.page.locator('.line', { hasText: 'Esperando a un agente' }).first().waitFor();

    // The agent takes it and sees who it is: the phone in E.164, and the language.
    const respond = agent.locator('#list-incoming button', { hasText: 'Respond' });
    await respond.waitFor();
    await respond.click();
    const contact = agent.locator('#t-contact');
    await contact.filter({ hasText: '+13125552368' }).waitFor();
    assert.match(await contact.innerText(), /Maria Lopez · \+13125552368 · Español/);
    assert.equal(await contact.locator('a').getAttribute('href'), 'tel:+13125552368');
    await agent.locator('#log li', { hasText: '(312) 555-2368' }).waitFor();

    // The shopper is told in Spanish, and sees the agent instead of the bot.
    await es.page.locator('.log li.system', { hasText: 'Ann Larson se unió al chat.' }).waitFor();
    await es.page.locator('.head h2', { hasText: 'Ann Larson' }).waitFor();
    await agent.click('#end');
    await es.page.locator('.line', { hasText: 'Este chat terminó' }).first().waitFor();

    // Nobody can take a chat now: the next shopper's chat goes offline after the gate.
    await agent.selectOption('#status', 'offline');
    const en = await shopperPage(browser, 'en-US', problems);
    await en.page.click('button.launch');
    await en.page.locator('.pick button', { hasText: 'Start chatting' }).click();
    await en.botSays('Which department can we help you with?');
    await en.answer('Parts');
    await en.botSays("Sorry, I didn't find that department.");
    await en.page.locator('.quick button', { hasText: 'Sales' }).click();
    await en.botSays("What's your first name?");
    await en.answer('Maria');
    await en.botSays('And your last name?');
    await en.answer('Lopez');
    await en.botSays('best e-mail address or mobile number');
    await en.answer('maria@example.com');
    await en.page.locator('.line', { hasText: 'No one is available to chat right now' }).first().waitFor();

    // The form appears, filled in with what the bot collected.
    const form = en.page.locator('form.leave');
    await form.waitFor();
    const field = (label) => form.getByLabel(label, { exact: true });
    assert.equal(await field('First name').inputValue(), 'Maria');
    assert.equal(await field('Last name').inputValue(), 'Lopez');
    assert.equal(await field('E-mail').inputValue(), 'maria@example.com');
    assert.equal(await field('Mobile phone (optional)').inputValue(), '');
    assert.equal(await field('Department').evaluate((s) => s.selectedOptions[0].textContent), 'Sales');
    await form.locator('#sr-consent', { hasText: 'By giving your mobile number you agree that Showroom Honda may call or text you' }).waitFor();
    assert.equal(await focusedId(en.page), 'sr-message', 'focus goes to the first field to fill');

    // A wrong e-mail is named next to its field, which gets the focus.
    await field('Message').fill('Is the Civic EX still available? I can come Saturday.');
    await field('Mobile phone (optional)').fill('(312) 555-2368');
    await field('E-mail').fill('maria@example');
    await form.locator('button[type=submit]').click();
    const emailError = form.locator('#sr-email-err');
    await emailError.filter({ hasText: /e-mail address/ }).waitFor();
    assert.equal(await field('E-mail').getAttribute('aria-invalid'), 'true');
    assert.match(await field('E-mail').getAttribute('aria-describedby'), /\bsr-email-err\b/);
    assert.equal(await field('Message').getAttribute('aria-invalid'), 'false');
    assert.equal(await focusedId(en.page), 'sr-email');
    await shot(en.page, 'widget-leave-message-error');

    // Fixed, it goes through, and the shopper is thanked.
    await field('E-mail').fill('maria@example.com');
    await form.locator('button[type=submit]').click();
    await en.page.locator('.done', { hasText: 'Thanks! We got your message and will get back to you soon.' }).waitFor();
    assert.equal(await form.isVisible(), false);
    await shot(en.page, 'widget-leave-message');

    // A reload keeps the thanks (the message was left once).
    await en.page.reload();
    await en.page.click('button.launch');
    await en.page.locator('.done', { hasText: 'We got your message' }).waitFor();
    assert.equal(await form.isVisible(), false);

    await agent.selectOption('#status', 'available');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

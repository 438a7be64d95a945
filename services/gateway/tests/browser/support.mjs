// What every browser test file shares: playwright-core from deploy/node_modules (where
// deploy/install.sh put it; libs/testkit/tests/browser.rs passes SHOWROOM_NODE_MODULES) and
// Debian's Chromium, started with the flags this machine's closed network needs.
import { createRequire } from 'node:module';

const require = createRequire(`${process.env.SHOWROOM_NODE_MODULES}/`);
const { chromium } = require('playwright-core');

/** Starts headless Chromium (never a downloaded browser). */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** Saves a screenshot of `page` as `<name>.png` when SHOWROOM_SCREENSHOTS names a directory. */
export async function shot(page, name) {
  const dir = process.env.SHOWROOM_SCREENSHOTS;
  if (dir) await page.screenshot({ path: `${dir}/${name}.png` });
}

/**
 * A shopper on /demo (a 360-pixel phone, English) who picks Sales and answers the Lead Gate
 * with `first`, `last` and `reach` (an e-mail or a phone); `prepare(page)`, if given, runs before
 * the page loads. Answers the page, `botSays(text)`
 * (waits for the bot's line), `answer(text)`, the message `box`, and `routed`: the time just
 * before the last answer went (the chat is routed after it). Page errors go to `problems`.
 */
export async function shopperThroughGate(browser, problems, { first, last, reach, prepare }, timeout = 15000) {
  const page = await (await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'en-US' })).newPage();
  page.on('pageerror', (e) => problems.push(`demo page (${first} ${last}): ${e.message}`));
  if (prepare) await prepare(page); // e.g. routes set up before the page loads
  await page.goto(`${process.env.SHOWROOM_BASE_URL}/demo`);
  await page.click('button.launch');
  await page.locator('.pick .dept', { hasText: 'Sales' }).click();
  const box = page.locator('input[aria-label="Type your message"]');
  const botSays = (text) => page.locator('.log li.bot', { hasText: text }).last().waitFor({ timeout });
  const answer = async (text) => { await box.fill(text); await box.press('Enter'); };
  await botSays("What's your first name?");
  await answer(first);
  await botSays('And your last name?');
  await answer(last);
  await botSays('best e-mail address or mobile number');
  const routed = Date.now();
  await answer(reach);
  return { page, botSays, answer, box, routed };
}

/**
 * Routes `page`'s WebSockets to `path` through the test: every frame passes, except the first
 * `message` frame from the gateway whose text contains `marker`, which the page never gets (a
 * frame lost on the way). Answers `dropped` (a promise of the lost frame's seq) and
 * `connections()` (how many sockets the page opened).
 */
export async function loseOneMessage(page, path, marker) {
  let dropped;
  const done = new Promise((resolve) => { dropped = resolve; });
  let lost = false, opened = 0;
  await page.routeWebSocket((url) => url.pathname === path, (ws) => {
    opened++;
    const server = ws.connectToServer();
    ws.onMessage((m) => server.send(m));
    server.onMessage((m) => {
      if (!lost && typeof m === 'string') {
        const f = JSON.parse(m);
        const text = (f.message && f.message.text) || '';
        if ((f.type === 'message' || f.type === 'internal_message') && text.includes(marker)) {
          lost = true; dropped(f.message.seq);
          return;
        }
      }
      ws.send(m);
    });
  });
  return { dropped: done, connections: () => opened };
}

/**
 * Routes `page`'s WebSockets to `path` through the test: every frame passes, except the first
 * frame of `type` the page sends, which never reaches the gateway: the test answers it itself
 * with an `error` frame `code` and `message` (with the frame's ref), as the gateway does when
 * the service behind it is too busy. Answers `refused` (a promise, once answered) and `sent()`
 * (how many frames of `type` the page sent in all).
 */
export async function refuseFirst(page, path, type, code, message) {
  let answered;
  const refused = new Promise((resolve) => { answered = resolve; });
  let done = false, sent = 0;
  await page.routeWebSocket((url) => url.pathname === path, (ws) => {
    const server = ws.connectToServer();
    server.onMessage((m) => ws.send(m));
    ws.onMessage((m) => {
      const f = typeof m === 'string' ? JSON.parse(m) : null;
      if (f && f.type === type) {
        sent++;
        if (!done) {
          done = true;
          ws.send(JSON.stringify({ type: 'error', code, message, ref: f.ref }));
          answered();
          return;
        }
      }
      server.send(m);
    });
  });
  return { refused, sent: () => sent };
}

/** Logs `email` in to /console with the demo password and sets Available. */
export async function consoleAvailable(page, email, name, timeout = 15000) {
  await page.goto(`${process.env.SHOWROOM_BASE_URL}/console`);
  await page.fill('#email', email);
  await page.fill('#password', 'showroom-demo');
  await page.click('#login-btn');
  await page.locator('#app').waitFor({ state: 'visible', timeout });
  await page.locator('#conn', { hasText: 'Online' }).waitFor({ timeout });
  await page.locator('#agent-name', { hasText: name }).waitFor({ timeout });
  await page.selectOption('#status', 'available');
}

/**
 * Signs in to the console at `base` with a password and opens the Admin tab; answers its
 * section menu (`#admin-root .a-nav`).
 */
export async function openAdmin(page, base, email, password, timeout = 15000) {
  await page.goto(`${base}/console`);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#login-btn');
  await page.locator('#app').waitFor({ state: 'visible', timeout });
  await page.locator('#tab-admin').waitFor({ timeout });
  await page.click('#tab-admin');
  const nav = page.locator('#admin-root .a-nav');
  await nav.waitFor({ timeout });
  return nav;
}

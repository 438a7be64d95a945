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
 * with `first`, `last` and `reach` (an e-mail or a phone). Answers the page, `botSays(text)`
 * (waits for the bot's line), `answer(text)`, the message `box`, and `routed`: the time just
 * before the last answer went (the chat is routed after it). Page errors go to `problems`.
 */
export async function shopperThroughGate(browser, problems, { first, last, reach }, timeout = 15000) {
  const page = await (await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'en-US' })).newPage();
  page.on('pageerror', (e) => problems.push(`demo page (${first} ${last}): ${e.message}`));
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

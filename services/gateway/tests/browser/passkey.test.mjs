// Passkeys in a real Chromium, with the DevTools virtual authenticator (CTAP2, internal
// transport, resident keys, user verification) standing in for a phone or a laptop's sensor:
// an agent of the demo group (Ann) adds a passkey in Profile (and is shown her ten recovery
// codes), logs out, and signs in again with her password and then the passkey (the second
// step of console/mfa-step.js). Another (David) sets up an authenticator app in Profile from its
// QR code's key (the codes are computed here, RFC 6238) and signs in with a code. Run by libs/testkit/tests/e2e/mfa.rs (`passkeys_in_chromium`)
// against a gateway whose public URL is http://localhost:<port> (SHOWROOM_BASE_URL): a WebAuthn
// relying party cannot be an IP address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { launchChromium, shot } from './support.mjs';

const BASE = process.env.SHOWROOM_BASE_URL;
const AGENT = { email: 'ann@demo.showroom.test', name: 'Ann Larson', password: 'showroom-demo' };
const LONG = 15000;

/** RFC 4648 base32 (no padding) to bytes. @param {string} text */
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}

/** The 6-digit TOTP code (SHA-1, 30 s) of `secret` at Unix time `t`. */
function totp(secret, t) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(Math.floor(t / 30)));
  const h = createHmac('sha1', base32(secret)).update(msg).digest();
  const o = h[19] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1e6).padStart(6, '0');
}

test('an agent adds a passkey in Profile and signs in with it', async () => {
  const browser = await launchChromium();
  const problems = [];
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });

    const passwordStep = async () => {
      await page.goto(`${BASE}/console`);
      await page.fill('#email', AGENT.email);
      await page.fill('#password', AGENT.password);
      await page.click('#login-btn');
    };
    await passwordStep();
    await page.locator('#agent-name', { hasText: AGENT.name }).waitFor({ timeout: LONG });

    // Profile: add a passkey.
    await page.click('#profile-open');
    await page.locator('#mfa-add-passkey').waitFor({ timeout: LONG });
    await page.fill('#mfa-passkey-name', 'Test laptop');
    await page.click('#mfa-add-passkey');
    await page.locator('#mfa-passkeys li', { hasText: 'Test laptop' }).waitFor({ timeout: LONG });
    assert.equal(await page.locator('#mfa-recovery-codes li').count(), 10, 'ten recovery codes are shown once');
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1, 'the authenticator holds the new passkey');
    await shot(page, 'passkey-profile');
    await page.keyboard.press('Escape');

    // Log out; the password alone no longer opens the console: the passkey does.
    await page.click('#logout');
    await page.locator('#login-form').waitFor({ timeout: LONG });
    await passwordStep();
    await page.locator('#mfa-passkey').waitFor({ timeout: LONG });
    assert.equal(await page.locator('#app').isVisible(), false, 'no console before the second step');
    await shot(page, 'passkey-second-step');
    await page.click('#mfa-passkey');
    await page.locator('#agent-name', { hasText: AGENT.name }).waitFor({ timeout: LONG });
    assert.equal(await page.locator('#app').isVisible(), true);
    const me = await page.evaluate(async () => (await fetch('/api/v1/me/mfa')).json());
    assert.equal(me.passkeys.length, 1);
    assert.ok(me.passkeys[0].last_used_at, 'the sign-in marks the passkey used');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('an agent sets up an authenticator app in Profile and signs in with a code', async () => {
  const browser = await launchChromium();
  const problems = [];
  const who = { email: 'david@demo.showroom.test', name: 'David Cowan' };
  try {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    const passwordStep = async () => {
      await page.goto(`${BASE}/console`);
      await page.fill('#email', who.email);
      await page.fill('#password', AGENT.password);
      await page.click('#login-btn');
    };
    await passwordStep();
    await page.locator('#agent-name', { hasText: who.name }).waitFor({ timeout: LONG });
    await page.click('#profile-open');
    await page.click('#mfa-setup-app', { timeout: LONG });
    const qr = page.locator('img.mfa-qr');
    await qr.waitFor({ timeout: LONG });
    await page.waitForFunction(() => { const i = document.querySelector('img.mfa-qr'); return i instanceof HTMLImageElement && i.complete && i.naturalWidth > 0; }, null, { timeout: LONG });
    const secret = (await page.locator('.mfa-secret').textContent()).replace('Or type this key: ', '').trim();
    await page.fill('#mfa-setup-code', totp(secret, Date.now() / 1000));
    await page.locator('#profile-mfa button', { hasText: 'Confirm' }).click();
    await page.locator('#mfa-recovery-codes li').first().waitFor({ timeout: LONG });
    assert.equal(await page.locator('#mfa-recovery-codes li').count(), 10);
    await shot(page, 'totp-profile');
    await page.keyboard.press('Escape');
    await page.click('#logout');
    await page.locator('#login-form').waitFor({ timeout: LONG });

    await passwordStep();
    await page.locator('#mfa-code').waitFor({ timeout: LONG });
    await page.fill('#mfa-code', '000000');
    await page.click('#mfa-submit');
    await page.locator('#mfa-error', { hasText: 'not accepted' }).waitFor({ timeout: LONG });
    // The next step's code: the one confirmed in Profile cannot be used again.
    await page.fill('#mfa-code', totp(secret, Date.now() / 1000 + 30));
    await page.click('#mfa-submit');
    await page.locator('#agent-name', { hasText: who.name }).waitFor({ timeout: LONG });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

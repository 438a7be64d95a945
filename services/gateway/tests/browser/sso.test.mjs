// Single sign-on in a real Chromium against a real OpenID provider (npm oidc-provider,
// libs/testkit/oidc/provider.mjs). Run by libs/testkit/tests/e2e/sso.rs (not by browser.rs's
// batches), which seeds the group, configures its provider and checks the database between the
// two phases. Env: SHOWROOM_BASE_URL, SHOWROOM_NODE_MODULES, OIDC_ISSUER (the provider, with
// its /test/ control API), SSO_GROUP (the group's id), SSO_PHASE (1 or 2).
//
// Phase 1: Rosa's first sign-in through the console's "Sign in with Okta" (the agent is made).
// Phase 2: her role changes at the provider and is applied at the next sign-in; a tampered
// `state`, a replayed callback, a callback opened in another browser, a wrong nonce (the
// provider, switched by its control API, signs an ID token whose nonce is not ours) and an
// unmapped role are refused; a back-channel logout ends her sessions (and its token cannot be
// replayed or forged); disabling her account at the provider ends her access and refuses her
// next sign-in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, shot } from './support.mjs';

const BASE = process.env.SHOWROOM_BASE_URL;
const ISSUER = process.env.OIDC_ISSUER;
const GROUP = process.env.SSO_GROUP;
const PHASE = process.env.SSO_PHASE;
const ROSA = { id: 'u-rosa', email: 'rosa@okta-staff.example', password: 'rosa-idp-password' };
const NED = { id: 'u-ned', email: 'ned@okta-staff.example', password: 'ned-idp-password' };
const INTERACTION = `${ISSUER}/interaction/**`;

/** A fresh browser context's page, recording every URL its main frame went to. */
async function freshPage(browser, problems) {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (e) => problems.push(`console: ${e.message}`));
  page.visited = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) page.visited.push(f.url()); });
  return page;
}

/** On /console, types the e-mail, clicks "Sign in with Okta" and signs in at the provider.
 * With `capture`, the provider's redirect back is stopped and its URL answered instead. */
async function signIn(page, who, { capture = false } = {}) {
  await page.goto(`${BASE}/console`);
  await page.locator('#login').waitFor({ state: 'visible' });
  await page.fill('#email', who.email);
  const sso = page.locator('#sso-btn', { hasText: 'Sign in with Okta' });
  await sso.waitFor({ state: 'visible' });
  await sso.click();
  await page.waitForURL((u) => u.href.startsWith(`${ISSUER}/interaction/`));
  // login_hint: the provider's form comes with the e-mail typed in the console.
  assert.equal(await page.inputValue('input[name=login]'), who.email);
  await page.fill('input[name=password]', who.password);
  let captured = null;
  if (capture) {
    // Redirects are not routed, so the form's POST is: it and the provider's own redirects
    // after it are followed here (the context's cookies), up to the callback, left unvisited.
    await page.route(INTERACTION, async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      const first = await route.fetch({ maxRedirects: 0 });
      let next = new URL(first.headers().location, ISSUER).href;
      while (next.startsWith(ISSUER)) {
        const r = await page.context().request.get(next, { maxRedirects: 0 });
        next = new URL(r.headers().location, next).href;
      }
      captured = next;
      await route.fulfill({ status: 200, contentType: 'text/plain', body: 'stopped before the callback' });
    });
  }
  await page.click('button[type=submit]');
  if (!capture) return null;
  for (let i = 0; i < 100 && !captured; i++) await new Promise((r) => setTimeout(r, 100));
  await page.unroute(INTERACTION);
  assert.ok(captured && captured.startsWith(`${BASE}/api/v1/auth/sso/callback?`), `the provider redirected back to the callback: ${captured}`);
  return captured;
}

async function expectSignedIn(page) {
  await page.locator('#app').waitFor({ state: 'visible' });
  return me(page);
}

/** The console shows the sign-in with the refusal's message, having been sent `code`. */
async function expectRefused(page, code, message) {
  await page.locator('#login-error', { hasText: message }).waitFor({ state: 'visible' });
  assert.ok(page.visited.some((u) => u.includes(`/console?sso_error=${code}`)), `sent back with ${code}: ${page.visited.join(' ')}`);
  assert.ok(!(await page.url()).includes('sso_error'), 'the code is taken out of the address bar');
}

const me = (page) => page.evaluate(async () => {
  const r = await fetch('/api/v1/me');
  return { status: r.status, body: await r.json().catch(() => null) };
});

async function control(method, path, body) {
  const r = await fetch(`${ISSUER}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  assert.ok(r.ok, `${method} ${path}: ${r.status}`);
  return r.status === 204 ? null : r.json();
}

test('phase 1: the first sign-in through the provider makes the agent', { skip: PHASE !== '1' }, async () => {
  const browser = await launchChromium();
  const problems = [];
  try {
    const page = await freshPage(browser, problems);
    await signIn(page, ROSA);
    const m = await expectSignedIn(page);
    assert.equal(m.status, 200);
    assert.equal(m.body.email, ROSA.email);
    assert.equal(m.body.role, 'rooftop_manager');
    assert.equal(m.body.first_name, 'Rosa');
    await shot(page, 'sso-signed-in');
    const cookies = await page.context().cookies();
    assert.ok(!cookies.some((c) => c.name === 'showroom_sso'), 'the browser-binding cookie is cleared');

    // Admin ▸ Single sign-on: the group's admin (a password sign-in) sees and changes it.
    const a = await freshPage(browser, problems);
    await a.goto(`${BASE}/console`);
    await a.fill('#email', process.env.SSO_ADMIN);
    await a.fill('#password', process.env.SSO_ADMIN_PASSWORD);
    await a.click('#login-btn');
    await a.locator('#app').waitFor({ state: 'visible' });
    await a.click('#tab-admin');
    await a.click('#admin-nav-sso');
    await a.locator('#admin-sso-form').waitFor();
    assert.equal(await a.inputValue('#admin-sso-issuer'), ISSUER);
    await a.locator('#admin-sso-info', { hasText: 'The client secret is mounted.' }).waitFor();
    await a.locator('#admin-sso-info', { hasText: '/api/v1/auth/sso/callback' }).waitFor();
    await a.fill('#admin-sso-role-map', (await a.inputValue('#admin-sso-role-map')) + '\nshowroom-managers = manager');
    await a.click('#admin-sso-form button[type=submit]');
    await a.locator('#admin-sso-form .a-status', { hasText: 'Saved' }).waitFor();
    const saved = await a.evaluate(() => fetch('/api/v1/sso/settings').then((r) => r.json()));
    assert.equal(saved.role_map['showroom-managers'], 'manager');
    assert.equal(saved.role_map['showroom-rooftop'], 'rooftop_manager');
    await a.fill('#admin-sso-role-map', 'x = emperor');
    await a.click('#admin-sso-form button[type=submit]');
    await a.locator('#admin-sso-form .a-err', { hasText: 'is not a role' }).waitFor();
    await shot(a, 'sso-admin');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('phase 2: refusals, role updates, back-channel logout and deactivation', { skip: PHASE !== '2' }, async () => {
  const browser = await launchChromium();
  const problems = [];
  try {
    // Her role changes at the provider: applied at her next sign-in.
    await control('PUT', `/test/accounts/${ROSA.id}`, { ...ROSA, given_name: 'Rosa', family_name: 'Diaz', roles: ['showroom-admins'], rooftops: [] });

    // A tampered state is refused; the real callback then signs in; replayed, it is refused.
    const b = await freshPage(browser, problems);
    const cb = await signIn(b, ROSA, { capture: true });
    const url = new URL(cb);
    const state = url.searchParams.get('state');
    const tampered = new URL(cb);
    tampered.searchParams.set('state', (state[0] === 'A' ? 'B' : 'A') + state.slice(1));
    await b.goto(tampered.href);
    await expectRefused(b, 'sso_state_invalid', 'That sign-in expired or was not started in this browser');
    await b.goto(cb);
    const promoted = await expectSignedIn(b);
    assert.equal(promoted.body.role, 'admin', 'the role follows the provider at each sign-in');
    b.visited.length = 0;
    await b.goto(cb);
    await b.locator('#app').waitFor({ state: 'visible' });
    assert.ok(b.visited.some((u) => u.includes('/console?sso_error=sso_state_invalid')), `a replayed callback is refused: ${b.visited.join(' ')}`);

    // A callback opened in another browser (no binding cookie) is refused, and used up.
    const d = await freshPage(browser, problems);
    const cb2 = await signIn(d, ROSA, { capture: true });
    const other = await freshPage(browser, problems);
    await other.goto(cb2);
    await expectRefused(other, 'sso_state_invalid', 'That sign-in expired or was not started in this browser');
    await d.goto(cb2);
    await expectRefused(d, 'sso_state_invalid', 'That sign-in expired or was not started in this browser');

    // The provider signs an ID token with a nonce that is not this sign-in's: refused.
    await control('POST', '/test/wrong-nonce');
    const e = await freshPage(browser, problems);
    await signIn(e, ROSA);
    await expectRefused(e, 'sso_nonce_invalid', 'did not belong to this sign-in');

    // No mapped role: refused, no agent made.
    const f = await freshPage(browser, problems);
    await signIn(f, NED);
    await expectRefused(f, 'sso_role_unmapped', 'no Showroom role');

    // Back-channel logout: every session of hers ends; its token cannot be replayed or forged.
    assert.equal((await me(b)).status, 200);
    const [sent] = await control('POST', `/test/accounts/${ROSA.id}/logout`);
    assert.equal(sent.status, 200, `the gateway took the logout token: ${sent.body}`);
    assert.equal((await me(b)).status, 401, 'her session ended');
    const post = (token) => fetch(`${BASE}/api/v1/auth/sso/backchannel-logout/${GROUP}`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }),
    });
    const replay = await post(sent.token);
    assert.equal(replay.status, 400);
    assert.equal((await replay.json()).error.code, 'invalid_logout_token');
    // Forged: a fresh jti in the claims, under the provider's signature of the old ones.
    const [h, p, s] = sent.token.split('.');
    const claims = { ...JSON.parse(Buffer.from(p, 'base64url').toString()), jti: 'forged-jti' };
    const forged = await post(`${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`);
    assert.equal(forged.status, 400, 'a logout token not signed by the provider is refused');

    // A logout is not a deactivation: she signs in again.
    const g = await freshPage(browser, problems);
    await signIn(g, ROSA);
    assert.equal((await expectSignedIn(g)).status, 200);

    // The provider disables her account: her session ends, and her next sign-in is refused.
    const [disabled] = await control('POST', `/test/accounts/${ROSA.id}/disable`);
    assert.equal(disabled.status, 200, `the gateway took the logout token: ${disabled.body}`);
    assert.equal((await me(g)).status, 401, 'her session ended');
    const k = await freshPage(browser, problems);
    await signIn(k, ROSA);
    await expectRefused(k, 'sso_denied', 'refused the sign-in');
    await shot(k, 'sso-refused');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

// A real OpenID provider for the single sign-on tests: npm `oidc-provider` (deploy/package.json,
// installed by deploy/install.sh into deploy/node_modules; SHOWROOM_NODE_MODULES may point
// elsewhere), on a free loopback port. Started and stopped by libs/testkit/src/oidc.rs.
//
// - Clients: OIDC_CLIENTS, a JSON list of {client_id, client_secret, redirect_uris,
//   backchannel_logout_uri}; Authorization Code with PKCE (required), client_secret_basic.
// - Accounts: a test store, filled over the control API below; a login form of our own checks
//   the password, refuses a disabled account (`access_denied` back to the client), and grants
//   the requested scopes (no consent page). The ID token carries email, names, and the
//   `roles` and `rooftops` claims (scope `profile`).
// - Back-channel logout on, and a control API under /test/ for the tests:
//     PUT  /test/accounts/:id          {email, password, given_name, family_name, roles, rooftops}
//     POST /test/accounts/:id/logout   sends every client a logout token for the account
//     POST /test/accounts/:id/disable  disables the account (no more sign-ins) and sends every
//                                      client a logout token that also carries the RISC
//                                      `account-disabled` event
//     POST /test/wrong-nonce           the next ID token is issued with a nonce of our own
//                                      (a correctly signed token whose nonce is not the
//                                      client's: how the nonce check is exercised for real)
//   The logout endpoints answer [{client_id, status, body, token}] (the token, to replay it).
// Prints `listening <issuer>` once ready.
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.env.SHOWROOM_NODE_MODULES
  || path.join(path.dirname(new URL(import.meta.url).pathname), '../../../deploy/node_modules');
const { default: Provider } = await import(pathToFileURL(path.join(modules, 'oidc-provider/lib/index.js')).href);

const clients = JSON.parse(process.env.OIDC_CLIENTS || '[]');
/** @type {Map<string, any>} */
const accounts = new Map();
let wrongNonceNext = false;

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', use: 'sig', alg: 'RS256' };

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...(c.backchannel_logout_uri ? { backchannel_logout_uri: c.backchannel_logout_uri } : {}),
  })),
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'roles', 'rooftops'],
  },
  // The claims of the granted scopes go into the ID token (not only the userinfo endpoint).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    const a = accounts.get(id);
    if (!a || a.disabled) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: a.email,
          email_verified: true,
          name: `${a.given_name || ''} ${a.family_name || ''}`.trim(),
          given_name: a.given_name,
          family_name: a.family_name,
          ...(a.roles !== undefined ? { roles: a.roles } : {}),
          ...(a.rooftops !== undefined ? { rooftops: a.rooftops } : {}),
        };
      },
    };
  },
});

// The wrong-nonce switch: the provider's own IdToken, signed by its own key, with our nonce.
const issue = provider.IdToken.prototype.issue;
provider.IdToken.prototype.issue = async function patchedIssue(opts) {
  if (opts && opts.use === 'idtoken' && wrongNonceNext) {
    wrongNonceNext = false;
    this.set('nonce', `forged-${crypto.randomUUID()}`);
  }
  return issue.call(this, opts);
};

/** A logout token for `sub` to every client with a back-channel logout URI (as the provider's
 * own Client#backchannelLogout makes it), with `extraEvents` beside the logout event. */
async function sendLogout(sub, extraEvents) {
  const out = [];
  for (const c of clients) {
    if (!c.backchannel_logout_uri) continue;
    const client = await provider.Client.find(c.client_id);
    const token = new provider.IdToken({ sub }, { client, ctx: undefined });
    token.mask = { sub: null };
    token.set('events', { 'http://schemas.openid.net/event/backchannel-logout': {}, ...extraEvents });
    token.set('jti', crypto.randomUUID());
    const jwt = await token.issue({ use: 'logout' });
    const r = await fetch(c.backchannel_logout_uri, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: jwt }),
    });
    out.push({ client_id: c.client_id, status: r.status, body: await r.text(), token: jwt });
  }
  return out;
}

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res, status, type, text) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginForm(res, uid, hint, error) {
  send(res, 200, 'text/html; charset=utf-8', `<!doctype html><html><head><title>Test IdP sign-in</title></head>
<body><h1>Test IdP</h1>${error ? `<p class="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}">
<label>Login <input name="login" value="${esc(hint)}" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in to the IdP</button></form></body></html>`);
}

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  if (req.method === 'GET' && prompt.name === 'login') {
    return loginForm(res, uid, params.login_hint || '', '');
  }
  let accountId = details.session?.accountId;
  if (prompt.name === 'login') {
    const form = new URLSearchParams(await body(req));
    // The login is the account id or its e-mail.
    const login = form.get('login') || '';
    const entry = [...accounts.entries()].find(([id, a]) => id === login || a.email === login);
    if (!entry || entry[1].password !== form.get('password')) {
      return loginForm(res, uid, login, 'Wrong login or password');
    }
    if (entry[1].disabled) {
      return provider.interactionFinished(req, res,
        { error: 'access_denied', error_description: 'the account is disabled' },
        { mergeWithLastSubmission: false });
    }
    accountId = entry[0];
  }
  const grant = new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope || 'openid'));
  const grantId = await grant.save();
  const result = prompt.name === 'login'
    ? { login: { accountId }, consent: { grantId } }
    : { consent: { grantId } };
  return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

async function control(req, res, url) {
  const m = url.pathname.match(/^\/test\/accounts\/([^/]+)(?:\/(logout|disable))?$/);
  if (req.method === 'POST' && url.pathname === '/test/wrong-nonce') {
    wrongNonceNext = true;
    return send(res, 204, 'text/plain', '');
  }
  if (m && req.method === 'PUT' && !m[2]) {
    accounts.set(decodeURIComponent(m[1]), JSON.parse(await body(req)));
    return send(res, 204, 'text/plain', '');
  }
  if (m && req.method === 'POST' && m[2]) {
    const id = decodeURIComponent(m[1]);
    const a = accounts.get(id);
    if (!a) return send(res, 404, 'text/plain', 'no such account');
    let extra = {};
    if (m[2] === 'disable') {
      a.disabled = true;
      extra = { 'https://schemas.openid.net/secevent/risc/event-type/account-disabled': {} };
    }
    return send(res, 200, 'application/json', JSON.stringify(await sendLogout(id, extra)));
  }
  return send(res, 404, 'text/plain', 'unknown control');
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const im = url.pathname.match(/^\/interaction\/([^/]+)$/);
    if (im) return await interaction(req, res, im[1]);
    if (url.pathname.startsWith('/test/')) return await control(req, res, url);
    return callback(req, res);
  } catch (e) {
    console.error('provider.mjs:', e);
    if (!res.headersSent) send(res, 500, 'text/plain', String(e && e.message));
  }
});

console.log(`listening ${issuer}`);

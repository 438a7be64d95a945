// @ts-check
/* Passkeys in the browser: the server's WebAuthn options (libs/rest/src/mfa.rs, webauthn-rs:
 * `{publicKey: …}` with binary fields in base64url) turned into what `navigator.credentials`
 * takes, and its answer back into JSON with base64url fields. Used by the sign-in's second step
 * (mfa-step.js) and Profile (admin/mfa.js). */

/** @param {string} s base64url, padded or not @returns {ArrayBuffer} */
function fromB64url(s) {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

/** @param {ArrayBuffer | null | undefined} buf @returns {string | null} */
function toB64url(buf) {
  if (!buf) return null;
  const bytes = new Uint8Array(buf);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Whether this browser can use passkeys here. */
export const passkeysSupported = () => typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;

/** @param {any} list */
const withIds = (list) => (Array.isArray(list) ? list.map((c) => Object.assign({}, c, { id: fromB64url(c.id) })) : list);

/**
 * Creates a passkey from the server's registration options; answers the credential as JSON.
 * @param {any} options `{publicKey: …}` as the server sent it
 */
export async function createPasskey(options) {
  const pk = Object.assign({}, options.publicKey);
  pk.challenge = fromB64url(pk.challenge);
  pk.user = Object.assign({}, pk.user, { id: fromB64url(pk.user.id) });
  pk.excludeCredentials = withIds(pk.excludeCredentials);
  const cred = /** @type {PublicKeyCredential | null} */ (await navigator.credentials.create({ publicKey: pk }));
  if (!cred) throw new Error('no passkey was made');
  const r = /** @type {AuthenticatorAttestationResponse} */ (cred.response);
  return {
    id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, extensions: {},
    response: { attestationObject: toB64url(r.attestationObject), clientDataJSON: toB64url(r.clientDataJSON) },
  };
}

/**
 * Signs the server's challenge with a passkey; answers the assertion as JSON.
 * @param {any} options `{publicKey: …}` as the server sent it
 */
export async function usePasskey(options) {
  const pk = Object.assign({}, options.publicKey);
  pk.challenge = fromB64url(pk.challenge);
  pk.allowCredentials = withIds(pk.allowCredentials);
  const cred = /** @type {PublicKeyCredential | null} */ (await navigator.credentials.get({ publicKey: pk }));
  if (!cred) throw new Error('no passkey answered');
  const r = /** @type {AuthenticatorAssertionResponse} */ (cred.response);
  return {
    id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, extensions: {},
    response: {
      authenticatorData: toB64url(r.authenticatorData), clientDataJSON: toB64url(r.clientDataJSON),
      signature: toB64url(r.signature), userHandle: toB64url(r.userHandle),
    },
  };
}

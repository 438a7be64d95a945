// @ts-check
/* The REST API as the console and its Admin tab call it: one fetch, with the session cookie
 * (showroom_session, set by POST /api/v1/auth/login: the browser sends it, no token is kept in
 * script), JSON in and out, and errors read one way ({error: {code, message, fields?}}).
 * A 401 on a logged-in call means the session ended (logged out elsewhere, password changed,
 * deactivated): views say so with `sessionEnded()`, and login.js, which registered what that
 * does, shows the login form. So no view imports the login. */

/**
 * An answer: the HTTP status, and the body as JSON (null when empty or not JSON). Bodies are
 * whatever the server sent; each view checks the fields it reads.
 * @typedef {{status: number, ok: boolean, data: any}} Reply
 */

/**
 * Calls the API. `body`: an object (sent as JSON), a Blob (sent as it is, with its own type),
 * or nothing. Throws only when the server cannot be reached.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<Reply>}
 */
export async function api(method, path, body) {
  /** @type {RequestInit & {headers: Record<string, string>}} */
  const opts = { method, credentials: 'same-origin', headers: {} };
  if (body instanceof Blob) { opts.headers['content-type'] = body.type || 'application/octet-stream'; opts.body = body; }
  else if (body !== undefined) { opts.headers['content-type'] = 'application/json'; opts.body = JSON.stringify(body); }
  const res = await fetch(path, opts);
  let data = null;
  try { data = await res.json(); } catch (_) { /* empty or not JSON */ }
  return { status: res.status, ok: res.ok, data };
}

/**
 * The server's message for a failed call, else `fallback`, else "The server answered 500.".
 * @param {Reply | null | undefined} r
 * @param {string} [fallback]
 */
export const errorText = (r, fallback) => (r && r.data && r.data.error && r.data.error.message) || fallback || ('The server answered ' + (r ? r.status : '?') + '.');

/**
 * The fields a 400 named, {field: message}, or null.
 * @param {Reply | null | undefined} r
 * @returns {Record<string, string> | null}
 */
export const errorFields = (r) => (r && r.data && r.data.error && r.data.error.fields && typeof r.data.error.fields === 'object' ? r.data.error.fields : null);

/**
 * /api/v1/me and the login answer the agent itself or {agent}.
 * @param {any} d
 */
export const agentOf = (d) => (d && d.agent) || d || {};

let ended = () => {};
/** What `sessionEnded()` does (login.js: show the login form). @param {() => void} fn */
export function onSessionEnd(fn) { ended = fn; }
/** A logged-in call answered 401, or the socket said `session_ended`. */
export function sessionEnded() { ended(); }

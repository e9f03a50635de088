// The HTTP API: JSON in and out, bearer token, every failure turned into an ApiError whose
// message is a sentence for the user.

/** An HTTP API failure. `status` 0 means the server could not be reached. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code  the server's error code (README: invalid_json, validation, …)
   * @param {string} message  words for the user
   */
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

const CODE_WORDS = /** @type {Record<string,string>} */ ({
  invalid_json: 'The request was malformed.',
  validation: 'Some input is not valid.',
  unauthorized: 'Please sign in again.',
  forbidden: 'You are not allowed to do that.',
  not_found: 'Not found.',
  conflict: 'That conflicts with the current state.',
  payload_too_large: 'The request is too large.',
  rate_limited: 'Too many attempts; wait a moment.',
  unavailable: 'The service is temporarily unavailable; try again shortly.',
  internal: 'The server failed; try again.',
});

/** @type {{token: string|null, onUnauthorized: (() => void)|null}} */
export const auth = { token: null, onUnauthorized: null };

/**
 * Call the API.
 * @param {'GET'|'POST'|'PUT'|'DELETE'} method
 * @param {string} path  e.g. "/api/v1/me"
 * @param {any} [body]
 * @param {string} [token]  another token than the session's (checking a stored one)
 * @returns {Promise<any>} the parsed JSON, or null for an empty answer
 */
export async function api(method, path, body, token) {
  /** @type {Record<string,string>} */
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const bearer = token ?? auth.token;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
  }
  const text = await res.text();
  /** @type {any} */
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (res.ok) return data;
  const err = data && data.error ? data.error : {};
  const code = typeof err.code === 'string' ? err.code : `http_${res.status}`;
  let message = typeof err.message === 'string' && err.message ? sentence(err.message) : CODE_WORDS[code] || `The server answered ${res.status} ${res.statusText}.`;
  if (res.status === 429) {
    const after = res.headers.get('Retry-After');
    if (after) message += ` Try again in ${after} s.`;
  }
  if (res.status === 401 && !token && auth.token && auth.onUnauthorized && !path.startsWith('/api/v1/auth/')) auth.onUnauthorized();
  throw new ApiError(res.status, code, message);
}

/** @param {string} s */
function sentence(s) {
  const t = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/**
 * Whether an endpoint exists on this server: unknown API routes answer 404 "no such API route".
 * Used to feature-detect APIs that are newer than this client's server (tournaments, matches).
 * @param {string} path
 * @returns {Promise<boolean>}
 */
export async function exists(path) {
  try {
    await api('GET', path);
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && /no such API route/i.test(e.message)) return false;
    if (e instanceof ApiError && e.status === 405) return false;
    return true; // 401, 400, 500…: the route is there
  }
}

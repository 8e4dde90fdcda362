// Shared by both pages: calling the public API, reading its problems, and
// small DOM and time helpers. The pages know the server only through docs/openapi.yaml.

/** localStorage key of a buyer token handed over by the operator's site. */
export const TOKEN_KEY = 'fastdeal.token';
/** localStorage key of the random buyer id used when the server has no JWT secret. */
export const BUYER_KEY = 'fastdeal.buyer';

/** randomId returns a URL-safe random string of n bytes of entropy. */
export function randomId(prefix = '', n = 12) {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return prefix + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * buyerHeaders names the buyer the way the server expects: a bearer token
 * when the operator's site handed one over (#token=... or localStorage),
 * else a random id kept in this browser and sent as X-User-ID (servers
 * without a JWT secret). The id lives in localStorage so that every tab and
 * every reload is the same buyer, which is what keeps a place in line.
 */
export function buyerHeaders() {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (m) {
    localStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search + '#/');
  }
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) return { Authorization: 'Bearer ' + token };
  let id = localStorage.getItem(BUYER_KEY);
  if (!id) {
    id = randomId('b-');
    localStorage.setItem(BUYER_KEY, id);
  }
  return { 'X-User-ID': id };
}

/**
 * api calls the API and never throws for an HTTP status: it returns
 * {ok, status, data, problem, retryAfter}. A network failure is status 0
 * with a problem of its own. A 409 business outcome ({"status":"sold_out"})
 * is data, not a problem.
 */
export async function api(method, path, { body, headers = {}, signal } = {}) {
  const h = { Accept: 'application/json', ...headers };
  const init = { method, headers: h, signal, cache: 'no-store' };
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    return { ok: false, status: 0, problem: { title: 'Network error', detail: 'The server could not be reached. Retrying…', code: 'network' } };
  }
  const out = { ok: res.ok, status: res.status, retryAfter: Number(res.headers.get('Retry-After')) || 0 };
  const type = res.headers.get('Content-Type') || '';
  let payload = null;
  if (res.status !== 204) {
    try { payload = await res.json(); } catch { payload = null; }
  }
  if (type.includes('problem+json') || (!res.ok && !(payload && payload.status && typeof payload.status === 'string'))) {
    out.problem = payload || { title: res.statusText || 'Error', status: res.status, detail: '' };
  } else {
    out.data = payload;
  }
  return out;
}

/** problemText turns a problem+json body into one readable sentence. */
export function problemText(p) {
  if (!p) return 'Something went wrong.';
  const title = p.title || 'Error';
  const detail = p.detail ? ': ' + p.detail : '';
  const field = p.field ? ` (field “${p.field}”)` : '';
  return `${title}${detail}${field}`;
}

/** h builds an element: h('p', {class: 'x'}, 'text', child...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/**
 * Life scopes the timers, intervals and fetches of one view: leaving the
 * view stops them all, so a page never keeps polling for a drop it left.
 */
export class Life {
  constructor() { this.ctl = new AbortController(); this.timers = new Set(); }
  get signal() { return this.ctl.signal; }
  get alive() { return !this.ctl.signal.aborted; }
  timeout(fn, ms) {
    const t = setTimeout(() => { this.timers.delete(t); if (this.alive) fn(); }, Math.max(0, ms));
    this.timers.add(t);
    return t;
  }
  interval(fn, ms) {
    const t = setInterval(() => { if (this.alive) fn(); }, ms);
    this.timers.add(t);
    return t;
  }
  clear(t) { clearTimeout(t); clearInterval(t); this.timers.delete(t); }
  stop() {
    this.ctl.abort();
    for (const t of this.timers) { clearTimeout(t); clearInterval(t); }
    this.timers.clear();
  }
}

/** clock formats a number of seconds as H:MM:SS or M:SS. */
export function clock(sec) {
  sec = Math.max(0, Math.ceil(sec));
  const hh = Math.floor(sec / 3600), mm = Math.floor((sec % 3600) / 60), ss = sec % 60;
  const p = (n) => String(n).padStart(2, '0');
  return hh > 0 ? `${hh}:${p(mm)}:${p(ss)}` : `${mm}:${p(ss)}`;
}

/** duration says how long in words: "under a minute", "about 3 min", "about 2 h 5 min". */
export function duration(sec) {
  if (!Number.isFinite(sec) || sec < 0) return '—';
  if (sec < 10) return 'a few seconds';
  if (sec < 60) return `about ${Math.round(sec / 5) * 5} s`;
  const min = Math.round(sec / 60);
  if (min < 60) return `about ${min} min`;
  return `about ${Math.floor(min / 60)} h ${min % 60} min`;
}

/** fmtNum writes an integer with thousands separators. */
export function fmtNum(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '—';
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: 1 });
}

/** fmtTime writes a timestamp in the reader's local time. */
export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

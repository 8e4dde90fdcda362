// The buyer's page: drops by region, a drop's page by kind (one-button claim,
// seat map, waiting room), and the buyer's tickets. Routes live in the hash:
// #/ lists drops, #/drop/ID shows one, #/tickets lists the buyer's tickets.
import { api, buyerHeaders, h, Life, clock, duration, fmtNum, fmtTime, problemText, randomId } from './api.js';
import { seatMap } from './seatmap.js';

const main = document.getElementById('main');
let life = new Life();

const enc = encodeURIComponent;

function route() {
  life.stop();
  life = new Life();
  buyerHeaders(); // takes a handed-over #token=... before the router reads the hash
  const hash = location.hash || '#/';
  for (const a of document.querySelectorAll('.topbar nav a')) {
    const cur = (a.getAttribute('href') === '#/tickets') === hash.startsWith('#/tickets');
    if (cur) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const m = /^#\/drop\/([A-Za-z0-9_-]{1,64})$/.exec(hash);
  if (m) return dropPage(m[1]);
  if (hash.startsWith('#/tickets')) return ticketsPage();
  return listPage();
}

function setTitle(t) { document.title = t ? `${t} · fastdeal` : 'fastdeal'; }

function errorBox(p) { return h('div', { class: 'msg error', role: 'alert' }, problemText(p)); }

// ---- drop list -----------------------------------------------------------

const STATUS_ORDER = ['open', 'upcoming', 'closed'];
const STATUS_TITLE = { open: 'Open now', upcoming: 'Upcoming', closed: 'Closed' };

async function listPage() {
  setTitle('');
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading drops…'));
  main.replaceChildren(h('h1', {}, 'Drops'), body);
  const load = async () => {
    const r = await api('GET', '/v1/drops', { signal: life.signal });
    if (!life.alive) return;
    if (!r.ok) { body.replaceChildren(errorBox(r.problem)); life.timeout(load, 5000); return; }
    const drops = r.data.drops || [];
    if (drops.length === 0) { body.replaceChildren(h('p', { class: 'card muted' }, 'No drops yet. Come back soon.')); }
    else {
      const regions = new Map();
      for (const d of drops) {
        const reg = d.region || 'Everywhere';
        if (!regions.has(reg)) regions.set(reg, []);
        regions.get(reg).push(d);
      }
      body.replaceChildren(...[...regions.keys()].sort().map((reg) => h('section', { class: 'region', 'aria-label': `Region ${reg}` },
        h('h2', {}, reg),
        ...STATUS_ORDER.map((st) => {
          const list = regions.get(reg).filter((d) => d.status === st);
          if (!list.length) return null;
          return h('div', {}, h('h3', { class: 'group-title' }, STATUS_TITLE[st]),
            h('div', { class: 'grid-cards' }, ...list.map(dropCard)));
        }))));
    }
    life.timeout(load, 15000);
  };
  load();
}

function badges(d) {
  return h('div', { class: 'badges' },
    h('span', { class: `badge ${d.status}` }, d.status),
    h('span', { class: 'badge' }, d.kind),
    d.admission === 'queued' ? h('span', { class: 'badge' }, 'waiting line') : null,
    d.paused ? h('span', { class: 'badge paused' }, 'paused') : null);
}

function dropCard(d) {
  const when = d.status === 'upcoming' ? `Opens ${fmtTime(d.opens_at)}` : d.status === 'open' ? `${fmtNum(d.remaining)} of ${fmtNum(d.stock)} left` : 'Sale ended';
  return h('a', { class: 'card drop-card', href: `#/drop/${d.id}`, 'data-drop': d.id },
    h('h3', {}, d.name), h('div', { class: 'muted small' }, d.venue || ''), badges(d),
    h('div', { class: 'small num' }, when));
}

// ---- a drop --------------------------------------------------------------

async function dropPage(id) {
  const head = h('div', {});
  const body = h('div', { id: 'drop-body' }, h('p', { class: 'muted' }, 'Loading…'));
  main.replaceChildren(h('p', { class: 'small' }, h('a', { href: '#/' }, '← All drops')), head, body);
  const r = await api('GET', `/v1/drops/${enc(id)}`, { signal: life.signal });
  if (!life.alive) return;
  if (!r.ok) { body.replaceChildren(errorBox(r.problem)); return; }
  const d = r.data;
  setTitle(d.name);
  head.replaceChildren(h('div', { class: 'card' },
    h('h1', {}, d.name),
    h('div', { class: 'muted' }, [d.venue, d.region].filter(Boolean).join(' · ')),
    badges(d),
    h('div', { class: 'small muted num' },
      d.opens_at ? `Opens ${fmtTime(d.opens_at)}` : 'Open now', d.closes_at ? ` · closes ${fmtTime(d.closes_at)}` : '',
      ` · ${fmtNum(d.remaining)} of ${fmtNum(d.stock)} left · up to ${d.per_user_limit} per buyer`)));
  if (d.admission === 'queued') return waitingRoom(d, body);
  if (d.status === 'upcoming') return openCountdown(d, body);
  if (d.status === 'closed') { body.replaceChildren(h('div', { class: 'card room', id: 'state-closed' }, h('h2', {}, 'This sale has ended'))); return; }
  if (d.kind === 'seated') return seatPage(d, body);
  return claimPage(d, body);
}

/** openCountdown waits for an open-admission drop's opening, then shows it. */
function openCountdown(d, body) {
  const left = h('div', { class: 'countdown num', id: 'countdown', role: 'timer' });
  body.replaceChildren(h('div', { class: 'card room', id: 'state-upcoming' },
    h('p', { class: 'lead' }, 'The sale opens in'), left, h('p', { class: 'muted small' }, fmtTime(d.opens_at))));
  const opens = Date.parse(d.opens_at);
  const tick = () => {
    const s = (opens - Date.now()) / 1000;
    left.textContent = clock(s);
    if (s <= 0) { life.timeout(route, 250 + Math.random() * 1000); return; }
    life.timeout(tick, 1000 - (Date.now() % 1000));
  };
  tick();
}

function issuedCard(iss, title = 'You got it!') {
  return h('div', { class: 'card room', id: 'state-issued' },
    h('h2', {}, title),
    iss.seat ? h('p', { class: 'lead' }, 'Seat ', h('strong', {}, iss.seat)) : null,
    h('p', { class: 'muted small' }, 'Your code'),
    h('div', { class: 'code', id: 'issued-code' }, iss.code),
    h('p', { class: 'small muted' }, `Issued ${fmtTime(iss.issued_at)} · `, h('a', { href: '#/tickets' }, 'My tickets')));
}

function outcomeCard(id, title, text) {
  return h('div', { class: 'card room', id }, h('h2', {}, title), text ? h('p', { class: 'lead' }, text) : null);
}

/** claimPage: an open general drop claims with one button. */
function claimPage(d, body) {
  const msg = h('div', { class: 'msg', role: 'status', 'aria-live': 'polite' });
  const btn = h('button', { class: 'big-button', id: 'claim', onclick: () => claim() }, 'Get one');
  body.replaceChildren(h('div', { class: 'card room' },
    h('p', { class: 'lead num' }, `${fmtNum(d.remaining)} left`), btn, msg));
  // One key for this visit: a retry after a lost answer is the same claim.
  const key = randomId('k-');
  async function claim() {
    btn.disabled = true;
    msg.className = 'msg info'; msg.textContent = 'Claiming…';
    const r = await api('POST', `/v1/drops/${enc(d.id)}/claims`, { body: {}, headers: { ...buyerHeaders(), 'Idempotency-Key': key }, signal: life.signal });
    if (!life.alive) return;
    const st = r.data && r.data.status;
    if (st === 'issued') { body.replaceChildren(issuedCard(r.data.issuance)); return; }
    btn.disabled = false;
    if (st === 'sold_out') { body.replaceChildren(outcomeCard('state-sold-out', 'Sold out', 'Every unit has been claimed.')); return; }
    if (st === 'limit_reached') { msg.className = 'msg warn'; msg.textContent = 'You already hold as many as this sale allows. See “My tickets”.'; return; }
    msg.className = 'msg error';
    msg.textContent = problemText(r.problem) + (r.status === 429 || r.status === 0 || r.status === 503 ? ' Try again in a moment.' : '');
  }
}

/** seatPage: an open seated drop shows its seat map. */
function seatPage(d, body) {
  const holder = h('div', { class: 'card' }, h('h2', {}, 'Pick your seat'), h('div', { id: 'seatmap' }));
  body.replaceChildren(holder);
  seatMap(holder.querySelector('#seatmap'), d, life, {
    onIssued: (iss) => { body.prepend(issuedCard(iss, `Seat ${iss.seat} is yours`)); },
  });
}

// ---- waiting room --------------------------------------------------------

/**
 * waitingRoom follows the buyer's place in a queued drop's line. It asks
 * line/me first and joins only when the server does not know the buyer
 * (404 not_in_line): the buyer's identity, not the tab, holds the place, so
 * a reload or a second tab finds it again. It waits poll_after_ms between
 * polls, as the server asks, and sends the latest ticket in X-Line-Ticket.
 */
function waitingRoom(d, body) {
  const ticketKey = `fastdeal.ticket.${d.id}`;
  const firstKey = `fastdeal.first.${d.id}`;
  const card = h('div', { class: 'card room', id: 'room', 'data-state': 'loading', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Finding your place…'));
  const extra = h('div', {});
  body.replaceChildren(card, extra);
  let countdownTimer = null;
  let pollTimer = null;

  const path = `/v1/drops/${enc(d.id)}/line`;
  const lineHeaders = () => {
    const t = localStorage.getItem(ticketKey);
    return t ? { ...buyerHeaders(), 'X-Line-Ticket': t } : buyerHeaders();
  };

  function show(state, ...children) {
    if (countdownTimer) { life.clear(countdownTimer); countdownTimer = null; }
    card.dataset.state = state;
    card.id = 'room';
    card.replaceChildren(...children);
  }

  function next(ms) {
    if (pollTimer) life.clear(pollTimer);
    pollTimer = life.timeout(poll, ms);
  }

  function countdown(el, until, onZero) {
    const tick = () => {
      const s = (until - Date.now()) / 1000;
      el.textContent = clock(s);
      if (s <= 0) { if (onZero) onZero(); return; }
      countdownTimer = life.timeout(tick, 1000 - (Date.now() % 1000) + 5);
    };
    tick();
  }

  function failed(r) {
    if (r.status === 401) {
      show('error', h('h2', {}, 'Sign in to join'), errorBox(r.problem),
        h('p', { class: 'muted small' }, 'Open this page from the sale’s site so that it can pass on your sign-in.'));
      return;
    }
    const wait = r.retryAfter ? r.retryAfter * 1000 : 3000;
    extra.replaceChildren(errorBox(r.problem));
    next(wait + Math.random() * 1000);
  }

  async function poll() {
    const r = await api('GET', `${path}/me`, { headers: lineHeaders(), signal: life.signal });
    if (!life.alive) return;
    if (r.status === 404 && r.problem && r.problem.code === 'not_in_line') return join();
    if (!r.ok) return failed(r);
    handle(r.data);
  }

  async function join() {
    // Before the line (or its pre-queue) opens there is nothing to join:
    // count down, then join with a little jitter so a crowd does not
    // arrive in the same millisecond.
    const now = Date.now();
    const qOpens = d.queue_opens_at ? Date.parse(d.queue_opens_at) : null;
    const opens = d.opens_at ? Date.parse(d.opens_at) : null;
    const joinableAt = qOpens ?? opens;
    if (d.status === 'closed' || (d.closes_at && Date.parse(d.closes_at) <= now)) {
      show('closed', h('h2', {}, 'This sale has ended'));
      return;
    }
    if (joinableAt && joinableAt > now) {
      const cd = h('div', { class: 'countdown num', id: 'countdown', role: 'timer' });
      show('before', h('p', { class: 'lead' }, qOpens ? 'The waiting room opens in' : 'The sale opens in'), cd,
        h('p', { class: 'muted small' }, fmtTime(new Date(joinableAt).toISOString())));
      countdown(cd, joinableAt, () => next(200 + Math.random() * 1500));
      return;
    }
    const r = await api('POST', path, { body: {}, headers: buyerHeaders(), signal: life.signal });
    if (!life.alive) return;
    if (r.status === 409 && r.problem && r.problem.code === 'drop_not_open') {
      // Our clock ran ahead of the server's: ask again shortly.
      extra.replaceChildren();
      next(1000 + Math.random() * 1000);
      return;
    }
    if (!r.ok) return failed(r);
    handle(r.data);
  }

  function handle(a) {
    extra.replaceChildren();
    if (a.ticket) localStorage.setItem(ticketKey, a.ticket);
    switch (a.status) {
      case 'pre_queue': {
        const cd = h('div', { class: 'countdown num', id: 'countdown', role: 'timer' });
        show('pre_queue', h('p', { class: 'lead' }, 'You are in the waiting room. The sale opens in'), cd,
          h('p', { class: 'muted small' }, d.shuffle_at_open === false
            ? 'At opening you keep your place in order of arrival.'
            : 'At opening everyone in the waiting room gets a random place in line: arriving early gives no head start, so there is no need to refresh.'));
        countdown(cd, Date.parse(a.opens_at), null);
        next(a.poll_after_ms || 2000);
        return;
      }
      case 'waiting': {
        const first = Math.max(Number(localStorage.getItem(firstKey)) || 0, a.position);
        localStorage.setItem(firstKey, String(first));
        const done = first > 1 ? Math.round(((first - a.position) / (first - 1)) * 100) : 100;
        show('waiting',
          h('p', { class: 'lead' }, 'You are in line. Keep this page open; your place is kept if you reload.'),
          h('div', { class: 'muted small' }, 'Your position'),
          h('div', { class: 'bignum num', id: 'position' }, fmtNum(a.position)),
          h('div', { class: 'stat-row' },
            h('div', { class: 'stat' }, h('div', { class: 'label' }, 'Ahead of you'), h('div', { class: 'value num', id: 'ahead' }, fmtNum(a.ahead))),
            h('div', { class: 'stat' }, h('div', { class: 'label' }, 'Estimated wait'), h('div', { class: 'value', id: 'eta' }, duration(a.eta_seconds)))),
          h('label', { for: 'progress', class: 'sr-only' }, 'Progress through the line'),
          h('progress', { id: 'progress', max: '100', value: String(done) }, `${done}%`),
          h('p', { class: 'muted small num' }, `${done}% of the way · next check in ${Math.max(1, Math.round((a.poll_after_ms || 1000) / 1000))} s`),
          h('button', { class: 'secondary', onclick: leave }, 'Leave the line'));
        next(a.poll_after_ms || 2000);
        return;
      }
      case 'admitted':
        if (d.kind === 'seated') return admitted(a.pass);
        next(a.poll_after_ms || 1000);
        return;
      case 'issued':
        localStorage.removeItem(firstKey);
        show('issued', ...Array.from(issuedCard(a.issuance).childNodes));
        return;
      case 'sold_out':
        show('sold_out', h('h2', { id: 'state-sold-out' }, 'Sold out'), h('p', { class: 'lead' }, 'Everything was claimed before your turn came. Sorry!'));
        return;
      case 'expired':
        show('expired', h('h2', { id: 'state-expired' }, 'Your time to pick ran out'),
          h('p', { class: 'lead' }, 'The pass went to the next person in line. You can join the line again.'),
          h('button', { onclick: () => join() }, 'Join again'));
        return;
      default:
        next(3000);
    }
  }

  function admitted(pass) {
    const left = h('span', { class: 'num', id: 'pass-left', role: 'timer' });
    const holder = h('div', { id: 'seatmap' });
    show('admitted', h('h2', {}, 'It’s your turn: pick a seat'),
      h('p', { class: 'lead' }, 'Time left to choose: ', h('strong', {}, left)), holder);
    countdown(left, Date.parse(pass.expires_at), () => next(500));
    seatMap(holder, d, life, {
      onIssued: (iss) => {
        if (pollTimer) life.clear(pollTimer);
        show('issued', ...Array.from(issuedCard(iss, `Seat ${iss.seat} is yours`).childNodes));
      },
      onOutcome: (code) => { if (code === 'not_admitted') next(0); },
    });
  }

  async function leave() {
    const r = await api('DELETE', `${path}/me`, { headers: buyerHeaders(), signal: life.signal });
    if (!life.alive) return;
    if (pollTimer) life.clear(pollTimer);
    localStorage.removeItem(ticketKey);
    localStorage.removeItem(firstKey);
    if (!r.ok && r.status !== 404) return failed(r);
    show('left', h('h2', {}, 'You left the line'), h('button', { onclick: () => join() }, 'Join again'));
  }

  poll();
}

// ---- my tickets ----------------------------------------------------------

async function ticketsPage() {
  setTitle('My tickets');
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  main.replaceChildren(h('h1', {}, 'My tickets'), body);
  const [r, drops] = await Promise.all([
    api('GET', '/v1/me/issuances', { headers: buyerHeaders(), signal: life.signal }),
    api('GET', '/v1/drops', { signal: life.signal }),
  ]);
  if (!life.alive) return;
  if (!r.ok) { body.replaceChildren(errorBox(r.problem)); return; }
  const names = new Map(((drops.data && drops.data.drops) || []).map((d) => [d.id, d.name]));
  const list = r.data.issuances || [];
  if (!list.length) { body.replaceChildren(h('p', { class: 'card muted' }, 'No tickets yet.')); return; }
  body.replaceChildren(h('div', { class: 'grid-cards', id: 'tickets' }, ...list.map((i) => h('div', { class: 'card drop-card' },
    h('h2', {}, names.get(i.drop_id) || i.drop_id),
    i.seat ? h('p', {}, 'Seat ', h('strong', {}, i.seat)) : null,
    h('div', { class: 'code' }, i.code),
    h('p', { class: 'small muted' }, `Issued ${fmtTime(i.issued_at)}`)))));
}

window.addEventListener('hashchange', () => { route(); main.focus(); });
route();

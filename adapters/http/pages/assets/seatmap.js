// The seat map of a seated drop: sections from the labels ("A-12" is seat 12
// of section A), free and taken seats from the paged seats route, refreshed,
// and a claim of the picked seat with seat_taken shown in place.
import { api, buyerHeaders, h, randomId, problemText } from './api.js';

/** sectionOf splits a label into its section and the seat's name within it. */
export function sectionOf(label) {
  const i = label.indexOf('-');
  if (i > 0) return [label.slice(0, i), label.slice(i + 1)];
  const m = /^([A-Za-z]+)(.+)$/.exec(label);
  if (m) return [m[1], m[2]];
  return ['Seats', label];
}

/** loadSeats follows `next` through every page of the seats route. */
async function loadSeats(id, signal) {
  const seats = [];
  let after = '';
  for (let i = 0; i < 200; i++) {
    const q = new URLSearchParams({ limit: '1000' });
    if (after) q.set('after', after);
    const r = await api('GET', `/v1/drops/${encodeURIComponent(id)}/seats?${q}`, { signal });
    if (!r.ok) return { problem: r.problem };
    seats.push(...r.data.seats);
    if (!r.data.next) break;
    after = r.data.next;
  }
  return { seats };
}

/**
 * seatMap renders into el and keeps itself fresh while life lasts. onIssued
 * receives the issuance when the buyer gets a seat.
 */
export function seatMap(el, drop, life, { onIssued, onOutcome } = {}) {
  const taken = new Map(); // label -> taken
  const lost = new Set(); // seats this buyer lost to someone else
  // Seats known taken from a claim's answer stay taken though the seats route
  // (up to a second old) may still list them free.
  const sticky = new Set();
  let order = [];
  let sections = [];
  let section = null;
  let picked = null;
  let claiming = false;

  const tabs = h('div', { class: 'sections', role: 'group', 'aria-label': 'Sections' });
  const grid = h('div', { class: 'seats', id: 'seat-grid', role: 'group', 'aria-label': 'Seats' });
  const pickText = h('div', { class: 'pick', id: 'picked' }, 'Pick a free seat.');
  const claimBtn = h('button', { id: 'claim-seat', disabled: true, onclick: () => claim() }, 'Claim seat');
  const status = h('div', { class: 'msg', id: 'seat-msg', role: 'status', 'aria-live': 'polite' });
  const counts = h('p', { class: 'muted small num', id: 'seat-counts' }, 'Loading seats…');
  el.replaceChildren(
    counts,
    tabs,
    h('div', { class: 'stage', 'aria-hidden': 'true' }, 'STAGE'),
    grid,
    h('div', { class: 'legend', 'aria-hidden': 'true' },
      h('span', {}, h('i', { class: 'l-free' }), 'Free'),
      h('span', {}, h('i', { class: 'l-taken' }), 'Taken'),
      h('span', {}, h('i', { class: 'l-sel' }), 'Your pick')),
    status,
    h('div', { class: 'claimbar' }, pickText, claimBtn),
  );

  function say(kind, text) {
    status.className = 'msg ' + kind;
    status.textContent = text;
  }

  function render() {
    const bySection = new Map();
    for (const label of order) {
      const [sec] = sectionOf(label);
      if (!bySection.has(sec)) bySection.set(sec, []);
      bySection.get(sec).push(label);
    }
    // Seats read as people count them: 2 before 10.
    for (const list of bySection.values()) list.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    sections = [...bySection.keys()];
    if (!section || !bySection.has(section)) section = sections[0];
    const free = order.filter((l) => !taken.get(l)).length;
    counts.textContent = `${free.toLocaleString('en-US')} of ${order.length.toLocaleString('en-US')} seats free`;
    tabs.hidden = sections.length < 2;
    tabs.replaceChildren(...sections.map((sec) => {
      const n = bySection.get(sec).filter((l) => !taken.get(l)).length;
      return h('button', {
        type: 'button', 'aria-pressed': String(sec === section),
        onclick: () => { section = sec; render(); },
      }, `${sec} · ${n} free`);
    }));
    grid.setAttribute('aria-label', `Seats of section ${section}`);
    grid.replaceChildren(...(bySection.get(section) || []).map((label) => {
      const isTaken = taken.get(label);
      const mine = picked === label;
      const state = isTaken ? (lost.has(label) ? 'taken just now' : 'taken') : mine ? 'your pick' : 'free';
      return h('button', {
        type: 'button',
        class: 'seat' + (isTaken ? ' taken' : '') + (lost.has(label) ? ' lost' : ''),
        'data-seat': label,
        'aria-pressed': String(mine),
        'aria-label': `Seat ${label}, ${state}`,
        disabled: isTaken,
        onclick: () => { picked = label; say('', ''); render(); },
      }, sectionOf(label)[1]);
    }));
    pickText.textContent = picked ? `Your pick: ${picked}` : 'Pick a free seat.';
    claimBtn.disabled = !picked || claiming;
    claimBtn.textContent = picked ? `Claim seat ${picked}` : 'Claim seat';
  }

  async function refresh() {
    const r = await loadSeats(drop.id, life.signal).catch(() => null);
    if (!r || !life.alive) return;
    if (r.problem) {
      say('error', problemText(r.problem));
    } else {
      order = r.seats.map((s) => s.label);
      for (const s of r.seats) taken.set(s.label, s.taken || sticky.has(s.label));
      if (picked && taken.get(picked)) picked = null;
      render();
    }
    // Large venues take many pages to read: refresh them less often.
    life.timeout(refresh, order.length > 5000 ? 10000 : 2000);
  }

  async function claim() {
    if (!picked || claiming) return;
    const seat = picked;
    claiming = true;
    render();
    say('info', `Claiming ${seat}…`);
    const headers = { ...buyerHeaders(), 'Idempotency-Key': randomId('k-') };
    let r;
    for (let attempt = 0; ; attempt++) {
      r = await api('POST', `/v1/drops/${encodeURIComponent(drop.id)}/claims`, { body: { seat }, headers, signal: life.signal });
      // Same key on a retry: a claim that did go through is answered again, not sold twice.
      if ((r.status === 0 || r.status === 503 || r.status === 429) && attempt < 3 && life.alive) {
        await new Promise((ok) => setTimeout(ok, (r.retryAfter || 1) * 1000));
        continue;
      }
      break;
    }
    claiming = false;
    if (!life.alive) return;
    const st = r.data && r.data.status;
    if (st === 'issued') {
      taken.set(seat, true);
      sticky.add(seat);
      picked = null;
      render();
      say('ok', `Seat ${seat} is yours.`);
      if (onIssued) onIssued(r.data.issuance);
      return;
    }
    if (st === 'seat_taken') {
      taken.set(seat, true);
      sticky.add(seat);
      lost.add(seat);
      picked = null;
      render();
      say('error', `Seat ${seat} was just taken by someone else. Pick another seat.`);
    } else if (st === 'limit_reached') {
      say('warn', 'You already hold as many seats as this sale allows. See “My tickets”.');
    } else if (st === 'sold_out') {
      say('warn', 'Sold out: every seat is taken.');
    } else {
      say('error', problemText(r.problem));
    }
    render();
    if (onOutcome) onOutcome(st || (r.problem && r.problem.code));
  }

  refresh();
  return { refresh };
}

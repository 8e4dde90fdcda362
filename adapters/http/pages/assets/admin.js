// The operator's page: drops, the create form, and a live view of one sale
// from GET /v1/admin/drops/{id}/live with its controls. The admin token is
// asked once and kept for the tab (sessionStorage), never in localStorage.
// Routes live in the hash: #/ (drops), #/new, #/drop/ID.
import { api, h, Life, duration, fmtNum, fmtTime, problemText } from './api.js';

const ADMIN_KEY = 'fastdeal.admin';
const CHART_JS = '/assets/vendor/echarts-5.6.0.simple.min.js';
const WINDOW = 300; // seconds of history the charts keep

const main = document.getElementById('main');
const side = document.getElementById('drops');
let life = new Life();
const enc = encodeURIComponent;

const token = () => sessionStorage.getItem(ADMIN_KEY);
const auth = () => ({ Authorization: 'Bearer ' + token() });

async function adminApi(method, path, body) {
  const r = await api(method, path, { body, headers: auth(), signal: life.signal });
  if (r.status === 401) { sessionStorage.removeItem(ADMIN_KEY); login('The admin token was refused. Enter it again.'); }
  return r;
}

// ---- sign in -------------------------------------------------------------

function login(why) {
  life.stop();
  life = new Life();
  document.getElementById('layout').hidden = true;
  const box = document.getElementById('login');
  box.hidden = false;
  const input = h('input', { id: 'admin-token', type: 'password', autocomplete: 'current-password', required: true, 'aria-describedby': 'token-hint' });
  const msg = h('div', { class: 'msg error', role: 'alert' }, why || '');
  box.replaceChildren(h('form', { class: 'card', onsubmit: async (e) => {
    e.preventDefault();
    sessionStorage.setItem(ADMIN_KEY, input.value.trim());
    // Any admin route tells a good token from a bad one: 404 for a drop
    // that does not exist means the token passed.
    const r = await api('GET', '/v1/admin/drops/_/stats', { headers: auth() });
    if (r.status === 401 || r.status === 403) { sessionStorage.removeItem(ADMIN_KEY); msg.textContent = problemText(r.problem); return; }
    start();
  } },
  h('h1', {}, 'Operator sign-in'),
  h('div', { class: 'field' }, h('label', { for: 'admin-token' }, 'Admin token'), input,
    h('span', { class: 'hint', id: 'token-hint' }, 'FASTDEAL_ADMIN_TOKEN, or the one the server logged at start. Kept for this tab only.')),
  msg,
  h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'sign-in' }, 'Sign in'))));
  input.focus();
}

function start() {
  document.getElementById('login').hidden = true;
  document.getElementById('layout').hidden = false;
  route();
}

// ---- drops list ------------------------------------------------------------

let dropsCache = [];

async function loadDrops() {
  const r = await api('GET', '/v1/drops', {});
  if (!r.ok) return;
  dropsCache = r.data.drops || [];
  renderSide();
}

function renderSide() {
  const cur = location.hash;
  if (!dropsCache.length) { side.replaceChildren(h('li', { class: 'muted small' }, 'No drops yet.')); return; }
  side.replaceChildren(...dropsCache.map((d) => h('li', {}, h('a', {
    href: `#/drop/${d.id}`, 'aria-current': cur === `#/drop/${d.id}` ? 'page' : null,
  }, d.name, h('span', { class: 'sub' }, `${d.status} · ${d.kind} · ${d.admission}${d.paused ? ' · paused' : ''}`)))));
}

function route() {
  life.stop();
  life = new Life();
  if (!token()) return login();
  loadDrops();
  const hash = location.hash || '#/';
  const m = /^#\/drop\/([A-Za-z0-9_-]{1,64})$/.exec(hash);
  if (m) return liveView(m[1]);
  if (hash === '#/new') return createForm();
  return overview();
}

function overview() {
  document.title = 'Operator · fastdeal';
  main.replaceChildren(h('div', { class: 'card' }, h('h1', {}, 'Drops'),
    h('p', { class: 'muted' }, 'Pick a drop on the left to watch it live and steer it, or create one.'),
    h('a', { class: 'button', href: '#/new' }, 'New drop')));
}

// ---- create ----------------------------------------------------------------

const FIELDS = [
  { name: 'name', label: 'Name', type: 'text', required: true, wide: true, hint: 'Up to 200 characters.' },
  { name: 'kind', label: 'Kind', type: 'select', options: ['general', 'seated'] },
  { name: 'admission', label: 'Admission', type: 'select', options: ['open', 'queued'], hint: 'queued: buyers wait in a line.' },
  { name: 'region', label: 'Region', type: 'text', hint: 'e.g. eu-west' },
  { name: 'venue', label: 'Venue', type: 'text' },
  { name: 'stock', label: 'Stock', type: 'number', min: 1, hint: 'General drops: units for sale.' },
  { name: 'seats', label: 'Seats', type: 'textarea', wide: true, hint: 'Seated drops: labels separated by spaces, commas or lines; "A-1..A-20" is a range.' },
  { name: 'per_user_limit', label: 'Per-buyer limit', type: 'number', min: 1, max: 100, placeholder: '1' },
  { name: 'opens_at', label: 'Opens at', type: 'datetime-local', hint: 'Empty: open now.' },
  { name: 'closes_at', label: 'Closes at', type: 'datetime-local', hint: 'Empty: no end.' },
  { name: 'admit_rate', label: 'Admit rate (per second)', type: 'number', min: 1, max: 1000000 },
  { name: 'pass_ttl_seconds', label: 'Pass time (seconds)', type: 'number', min: 1, hint: 'Seated queued drops: time to pick a seat.' },
  { name: 'queue_opens_at', label: 'Waiting room opens at', type: 'datetime-local', hint: 'Pre-queue before opening.' },
  { name: 'max_active', label: 'Max active passes', type: 'number', min: 1, hint: 'Seated queued drops.' },
  { name: 'shuffle_at_open', label: 'Shuffle the pre-queue at opening', type: 'checkbox', checked: true },
];

/** expandSeats reads "A-1..A-20" ranges and plain labels. */
function expandSeats(text) {
  const out = [];
  for (const tok of text.split(/[\s,]+/).filter(Boolean)) {
    const m = /^(.*?)(\d+)\.\.(.*?)(\d+)$/.exec(tok);
    if (m && m[1] === m[3] && Number(m[4]) >= Number(m[2]) && Number(m[4]) - Number(m[2]) < 100000) {
      for (let i = Number(m[2]); i <= Number(m[4]); i++) out.push(m[1] + i);
    } else out.push(tok);
  }
  return out;
}

function createForm() {
  document.title = 'New drop · fastdeal';
  const inputs = {};
  const errs = {};
  const top = h('div', { class: 'msg error', role: 'alert', id: 'form-error' });
  const fields = FIELDS.map((f) => {
    const id = `f-${f.name}`;
    const err = h('span', { class: 'field-error', id: `${id}-error` });
    errs[f.name] = err;
    const described = [f.hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' ');
    let input;
    if (f.type === 'select') input = h('select', { id, name: f.name, 'aria-describedby': described }, ...f.options.map((o) => h('option', { value: o }, o)));
    else if (f.type === 'textarea') input = h('textarea', { id, name: f.name, rows: '3', 'aria-describedby': described });
    else input = h('input', { id, name: f.name, type: f.type, min: f.min, max: f.max, placeholder: f.placeholder, required: f.required, checked: f.checked, 'aria-describedby': described });
    inputs[f.name] = input;
    const hint = f.hint ? h('span', { class: 'hint', id: `${id}-hint` }, f.hint) : null;
    if (f.type === 'checkbox') return h('div', { class: 'field wide' }, h('div', { class: 'field check' }, input, h('label', { for: id }, f.label)), hint, err);
    return h('div', { class: 'field' + (f.wide ? ' wide' : '') }, h('label', { for: id }, f.label), input, hint, err);
  });
  const form = h('form', { class: 'card', id: 'create-form', novalidate: true, onsubmit: (e) => { e.preventDefault(); submit(); } },
    h('h1', {}, 'New drop'), h('div', { class: 'fields' }, ...fields), top,
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'create' }, 'Create drop'), h('a', { href: '#/', class: 'button secondary' }, 'Cancel')));
  main.replaceChildren(form);

  async function submit() {
    for (const f of FIELDS) { errs[f.name].textContent = ''; inputs[f.name].removeAttribute('aria-invalid'); }
    top.textContent = '';
    const body = {};
    for (const f of FIELDS) {
      const el = inputs[f.name];
      if (f.type === 'checkbox') { body[f.name] = el.checked; continue; }
      const v = el.value.trim();
      if (v === '') continue;
      if (f.type === 'number') body[f.name] = Number(v);
      else if (f.type === 'datetime-local') body[f.name] = new Date(v).toISOString();
      else if (f.name === 'seats') body.seats = expandSeats(v);
      else body[f.name] = v;
    }
    // The pre-queue switch means something only with a pre-queue.
    if (!body.queue_opens_at) delete body.shuffle_at_open;
    if (body.kind === 'seated') delete body.stock; else delete body.seats;
    const r = await adminApi('POST', '/v1/admin/drops', body);
    if (r.ok) { await loadDrops(); location.hash = `#/drop/${r.data.id}`; return; }
    if (r.status === 401) return;
    const p = r.problem || {};
    const field = p.field && p.field.replace(/[[.].*$/, '');
    if (field && inputs[field]) {
      errs[field].textContent = p.detail || p.title;
      inputs[field].setAttribute('aria-invalid', 'true');
      inputs[field].focus();
    } else top.textContent = problemText(p);
  }
}

// ---- live view ---------------------------------------------------------------

let chartLib = null;
/** loadCharts loads the chart library once, and only on this page. */
function loadCharts() {
  if (!chartLib) {
    chartLib = new Promise((ok, fail) => {
      const s = document.createElement('script');
      s.src = CHART_JS;
      s.onload = () => ok(window.echarts);
      s.onerror = () => { chartLib = null; fail(new Error('chart library did not load')); };
      document.head.append(s);
    });
  }
  return chartLib;
}

const SERIES = [
  { key: 'joins', title: 'Joins', color: '#3548c4' },
  { key: 'admissions', title: 'Admissions', color: '#1a7f37' },
  { key: 'issues', title: 'Issues', color: '#bf3989' },
  { key: 'polls', title: 'Status polls', color: '#9a6700' },
];

const TILES = [
  ['line_length', 'In line'], ['pre_queue_length', 'Pre-queue'], ['active_passes', 'Active passes'],
  ['issued', 'Issued'], ['persisted', 'Persisted'], ['pending_persist', 'Pending persist'],
  ['remaining', 'Remaining'], ['eta_seconds', 'Wait of last in line'], ['admit_rate', 'Admit rate /s'],
];

function liveView(id) {
  const d0 = dropsCache.find((d) => d.id === id);
  document.title = `${d0 ? d0.name : id} · live · fastdeal`;
  const title = h('h1', {}, d0 ? d0.name : id);
  const meta = h('div', { class: 'muted small' });
  const conn = h('span', { class: 'small', id: 'live-state', role: 'status' }, h('span', { class: 'live-dot' }), 'Connecting…');
  const tiles = {};
  const tileBox = h('div', { class: 'tiles' }, ...TILES.map(([k, label]) => {
    tiles[k] = h('div', { class: 'value num', id: `stat-${k.replace(/_/g, '-')}` }, '—');
    return h('div', { class: 'tile' }, h('div', { class: 'label' }, label), tiles[k]);
  }));
  const nows = {};
  const chartEls = {};
  const chartBox = h('div', { class: 'charts' }, ...SERIES.map((s) => {
    nows[s.key] = h('span', { class: 'now num', id: `rate-${s.key}` }, '—');
    chartEls[s.key] = h('div', { class: 'chart', role: 'img', 'aria-label': `${s.title} per second over the last five minutes` });
    return h('div', { class: 'chart-card' },
      h('header', {}, h('h3', {}, `${s.title} /s`), nows[s.key]),
      h('div', { class: 'small muted num', id: `rate-${s.key}-minute` }, ''),
      chartEls[s.key]);
  }));
  const ctlMsg = h('div', { class: 'msg', role: 'status', 'aria-live': 'polite', id: 'control-msg' });
  const rateIn = h('input', { id: 'c-rate', type: 'number', min: '1', max: '1000000' });
  const maxIn = h('input', { id: 'c-max', type: 'number', min: '1', placeholder: 'no cap' });
  const pauseBtn = h('button', { type: 'button', id: 'c-pause', class: 'secondary', onclick: () => patch({ paused: !paused }, paused ? 'Resumed' : 'Paused') }, 'Pause');
  const closeBtn = h('button', { type: 'button', id: 'c-close', class: 'danger', onclick: () => closeNow() }, 'Close now');
  const reconBtn = h('button', { type: 'button', id: 'c-reconcile', class: 'secondary', onclick: () => reconcile() }, 'Reconcile');
  const controls = h('div', { class: 'card' }, h('h2', {}, 'Controls'),
    h('div', { class: 'controls' },
      h('form', { class: 'control', onsubmit: (e) => { e.preventDefault(); const n = Number(rateIn.value); if (n) patch({ admit_rate: n }, `Admit rate set to ${fmtNum(n)}/s`); } },
        h('div', { class: 'field' }, h('label', { for: 'c-rate' }, 'Admit rate (per second)'), rateIn), h('button', { id: 'c-rate-apply' }, 'Set')),
      h('form', { class: 'control', onsubmit: (e) => { e.preventDefault(); const v = maxIn.value.trim(); patch({ max_active: v === '' ? null : Number(v) }, v === '' ? 'Active-pass cap removed' : `Max active passes set to ${v}`); } },
        h('div', { class: 'field' }, h('label', { for: 'c-max' }, 'Max active passes'), maxIn), h('button', { id: 'c-max-apply' }, 'Set')),
      h('div', { class: 'actions' }, pauseBtn, closeBtn, reconBtn)),
    ctlMsg);
  main.replaceChildren(
    h('div', { class: 'card' }, h('div', { class: 'head-row' }, h('div', {}, title, meta), conn)),
    tileBox, h('div', { class: 'charts-wrap' }, chartBox), controls);

  let paused = false;
  let closeArmed = false;
  let filledControls = false;
  const history = Object.fromEntries(SERIES.map((s) => [s.key, []]));
  const charts = {};

  function say(kind, text) { ctlMsg.className = 'msg ' + kind; ctlMsg.textContent = text; }

  async function refreshDrop() {
    const r = await api('GET', `/v1/drops/${enc(id)}`, { signal: life.signal });
    if (!r.ok) { if (life.alive) meta.textContent = problemText(r.problem); return; }
    const d = r.data;
    title.textContent = d.name;
    document.title = `${d.name} · live · fastdeal`;
    meta.textContent = `${d.status} · ${d.kind} · ${d.admission} · ${d.region || 'no region'} · opens ${fmtTime(d.opens_at)} · closes ${fmtTime(d.closes_at)}`;
    if (!filledControls) {
      rateIn.value = d.admit_rate || '';
      maxIn.value = d.max_active || '';
      filledControls = true;
    }
  }

  async function patch(body, done) {
    const r = await adminApi('PATCH', `/v1/admin/drops/${enc(id)}`, body);
    if (!life.alive) return;
    if (r.ok) { say('ok', done); refreshDrop(); loadDrops(); } else if (r.status !== 401) say('error', problemText(r.problem));
  }

  function closeNow() {
    if (!closeArmed) {
      closeArmed = true;
      closeBtn.textContent = 'Confirm: close the sale';
      life.timeout(() => { closeArmed = false; closeBtn.textContent = 'Close now'; }, 5000);
      return;
    }
    closeArmed = false;
    closeBtn.textContent = 'Close now';
    patch({ closes_at: new Date().toISOString() }, 'Sale closed');
  }

  async function reconcile() {
    const r = await adminApi('POST', `/v1/admin/drops/${enc(id)}/reconcile`, undefined);
    if (!life.alive) return;
    if (r.ok) say('ok', `Reconciled: ${fmtNum(r.data.repaired)} repaired.`); else if (r.status !== 401) say('error', problemText(r.problem));
  }

  function render(ev) {
    for (const [k] of TILES) {
      if (k === 'eta_seconds') tiles[k].textContent = ev.eta_seconds == null ? (ev.paused ? 'paused' : '—') : duration(ev.eta_seconds);
      else tiles[k].textContent = fmtNum(ev[k]);
    }
    paused = !!ev.paused;
    pauseBtn.textContent = paused ? 'Resume' : 'Pause';
    pauseBtn.setAttribute('aria-pressed', String(paused));
    const at = ev.at ? Date.parse(ev.at) : Date.now();
    for (const s of SERIES) {
      const r = (ev.rates && ev.rates[s.key]) || {};
      nows[s.key].textContent = fmtNum(r.last_second ?? 0);
      document.getElementById(`rate-${s.key}-minute`).textContent = `last minute: ${fmtNum(r.last_minute ?? 0)}/s`;
      const hist = history[s.key];
      hist.push([at, r.last_second ?? 0]);
      while (hist.length > WINDOW) hist.shift();
      if (charts[s.key]) charts[s.key].setOption({ series: [{ data: hist }] });
    }
  }

  loadCharts().then((echarts) => {
    if (!life.alive) return;
    for (const s of SERIES) {
      const c = echarts.init(chartEls[s.key], null, { renderer: 'canvas' });
      c.setOption({
        animation: false,
        aria: { enabled: true },
        grid: { left: 44, right: 10, top: 10, bottom: 24 },
        xAxis: { type: 'time', axisLabel: { color: '#57606a', hideOverlap: true }, splitLine: { show: false } },
        yAxis: { type: 'value', min: 0, axisLabel: { color: '#57606a' }, splitLine: { lineStyle: { color: '#eaeef2' } } },
        series: [{ type: 'line', showSymbol: false, data: history[s.key], lineStyle: { color: s.color, width: 2 }, itemStyle: { color: s.color }, areaStyle: { color: s.color, opacity: 0.08 } }],
      });
      charts[s.key] = c;
    }
    const resize = () => Object.values(charts).forEach((c) => c.resize());
    window.addEventListener('resize', resize);
    life.signal.addEventListener('abort', () => { window.removeEventListener('resize', resize); Object.values(charts).forEach((c) => c.dispose()); });
  }).catch((e) => say('warn', `Charts unavailable: ${e.message}. The figures above still update.`));

  function setConn(on, text) {
    conn.replaceChildren(h('span', { class: 'live-dot' + (on ? ' on' : '') }), text);
    conn.dataset.live = String(on);
  }

  // EventSource cannot send the Authorization header: read the stream with
  // fetch and parse the event-stream format by hand.
  async function stream() {
    let backoff = 1000;
    while (life.alive) {
      try {
        const res = await fetch(`/v1/admin/drops/${enc(id)}/live`, { headers: { ...auth(), Accept: 'text/event-stream' }, signal: life.signal, cache: 'no-store' });
        if (res.status === 401) { sessionStorage.removeItem(ADMIN_KEY); login('The admin token was refused. Enter it again.'); return; }
        if (!res.ok) {
          let p = null;
          try { p = await res.json(); } catch { /* not JSON */ }
          setConn(false, problemText(p || { title: `HTTP ${res.status}` }));
          if (res.status === 404) return;
        } else {
          setConn(true, 'Live');
          backoff = 1000;
          const reader = res.body.getReader();
          const dec = new TextDecoder();
          let buf = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += dec.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
            let cut;
            while ((cut = buf.indexOf('\n\n')) >= 0) {
              const block = buf.slice(0, cut);
              buf = buf.slice(cut + 2);
              let event = 'message';
              const data = [];
              for (const line of block.split('\n')) {
                if (line.startsWith(':')) continue;
                const i = line.indexOf(':');
                const field = i < 0 ? line : line.slice(0, i);
                const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
                if (field === 'event') event = val;
                else if (field === 'data') data.push(val);
              }
              if (!data.length) continue;
              let payload;
              try { payload = JSON.parse(data.join('\n')); } catch { continue; }
              if (event === 'stats') { setConn(true, 'Live'); render(payload); }
              else if (event === 'error') setConn(false, problemText(payload));
            }
          }
          setConn(false, 'Reconnecting…');
        }
      } catch (e) {
        if (!life.alive) return;
        setConn(false, 'Reconnecting…');
      }
      await new Promise((ok) => life.timeout(ok, backoff));
      backoff = Math.min(backoff * 2, 10000);
    }
  }

  refreshDrop();
  life.interval(refreshDrop, 10000);
  stream();
}

document.getElementById('sign-out').addEventListener('click', () => { sessionStorage.removeItem(ADMIN_KEY); login(); });
window.addEventListener('hashchange', () => { route(); renderSide(); main.focus(); });
if (token()) start(); else login();

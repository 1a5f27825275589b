// wflow debugger: a single page in plain ES2020, no framework, no build step,
// no network but the API of the server that serves it.
//
// Routes (hash): #/ workflows, #/workflows/NAME, #/runs[?workflow=&status=],
// #/runs/HANDLER_ID. The page talks to the server that served it, and to no
// other: its Content-Security-Policy says so.
'use strict';

(() => {
  const TOKEN_KEY = 'wflow.debugger.token';
  const INTERNAL_KEY = 'wflow.debugger.showInternal';
  const STATUSES = ['running', 'completed', 'failed', 'cancelled'];
  const INTERNAL_TYPES = ['InternalDispatchEvent', 'StepStateChanged', 'WorkflowIdleEvent', 'UnhandledEvent'];
  const LIVE_AFTER_MS = 250; // events arriving this long after the stream opened are "live"

  // ------------------------------------------------------------------ utils

  function store(key, value) {
    try {
      if (value === undefined || value === null || value === '') localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch (_) { /* storage disabled: keep going without it */ }
  }
  function load(key) {
    try { return localStorage.getItem(key) || ''; } catch (_) { return ''; }
  }
  const getToken = () => load(TOKEN_KEY);

  /** h('div', {class: 'x', onclick: fn, dataset...}, child, ...) */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'style') el.style.cssText = v; // CSSOM: allowed by the page's CSP
        else if (k === 'text') el.textContent = v;
        else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (k === 'value') el.value = v;
        else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'hidden') el[k] = !!v;
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    append(el, children);
    return el;
  }
  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
  function enc(s) { return encodeURIComponent(s); }

  function fmtTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const pad = (n, w = 2) => String(n).padStart(w, '0');
    const today = new Date();
    const sameDay = d.toDateString() === today.toDateString();
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
    return sameDay ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
  }
  function fmtDuration(ms) {
    if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
    if (ms < 1) return `${ms.toFixed(2)} ms`;
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
    const m = Math.floor(ms / 60000);
    const s = Math.round((ms % 60000) / 1000);
    return `${m} min ${s} s`;
  }
  function between(a, b) {
    if (!a) return null;
    const start = Date.parse(a);
    const end = b ? Date.parse(b) : Date.now();
    return Number.isNaN(start) || Number.isNaN(end) ? null : Math.max(0, end - start);
  }

  /** Pretty, syntax-coloured JSON as a <pre>. */
  function jsonPre(value, extraClass) {
    const pre = h('pre', { class: `json ${extraClass || ''}` });
    pre.innerHTML = jsonHtml(value, 2);
    return pre;
  }
  function escapeHtml(s) {
    return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  }
  function jsonHtml(value, indent) {
    let text;
    try { text = JSON.stringify(value, null, indent); } catch (_) { text = String(value); }
    if (text === undefined) text = 'undefined';
    const re = /("(?:\\u[a-fA-F0-9]{4}|\\[^u]|[^\\"])*"(\s*:)?|\b(?:true|false)\b|\bnull\b|-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)/g;
    let out = '';
    let last = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      out += escapeHtml(text.slice(last, m.index));
      const tok = m[0];
      let cls = 'j-num';
      if (tok.startsWith('"')) cls = m[2] ? 'j-key' : 'j-str';
      else if (tok === 'true' || tok === 'false') cls = 'j-bool';
      else if (tok === 'null') cls = 'j-null';
      out += `<span class="${cls}">${escapeHtml(tok)}</span>`;
      last = m.index + tok.length;
    }
    return out + escapeHtml(text.slice(last));
  }

  function badge(status, big) {
    const s = status || 'unknown';
    return h('span', { class: `badge ${s}${big ? ' big' : ''}`, text: s });
  }
  function typesOf(env) {
    const t = [];
    if (env && typeof env.type === 'string') t.push(env.type);
    if (env && Array.isArray(env.types)) t.push(...env.types);
    return t;
  }
  const isInternal = (env) => typesOf(env).some((t) => INTERNAL_TYPES.includes(t));
  const isTerminal = (env) => typesOf(env).includes('StopEvent');
  const isPrompt = (env) => typesOf(env).includes('InputRequiredEvent');
  const isFailure = (env) => ['WorkflowFailedEvent', 'WorkflowTimedOutEvent', 'WorkflowCancelledEvent'].includes(env.type);

  // -------------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, detail, method, path) {
      super(detail);
      this.status = status;
      this.detail = detail;
      this.method = method;
      this.path = path;
    }
    get auth() { return this.status === 401 || this.status === 403; }
    describe() {
      const where = `${this.method} ${this.path}`;
      if (this.status === 0) return `${where}: ${this.detail}`;
      return `${where} answered ${this.status}: ${this.detail}`;
    }
  }

  function headers(extra) {
    const hd = Object.assign({}, extra || {});
    const token = getToken();
    if (token) hd.Authorization = `Bearer ${token}`;
    return hd;
  }

  /** Raw fetch against the API; throws ApiError(0) when the server cannot be reached. */
  async function rawFetch(method, path, opts) {
    const o = opts || {};
    const init = { method, headers: headers(o.headers), cache: 'no-store', signal: o.signal };
    if (o.body !== undefined) {
      init.body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
      init.headers['Content-Type'] = 'application/json';
    }
    try {
      return await fetch(path, init);
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new ApiError(0, `cannot reach the server (${e && e.message ? e.message : e})`, method, path);
    }
  }

  async function bodyOf(resp) {
    const text = await resp.text();
    if (!text) return { text, json: undefined };
    try { return { text, json: JSON.parse(text) }; } catch (_) { return { text, json: undefined }; }
  }

  function detailOf(resp, body) {
    if (body.json && typeof body.json === 'object' && body.json !== null && 'detail' in body.json) {
      const d = body.json.detail;
      return typeof d === 'string' ? d : JSON.stringify(d);
    }
    if (body.text) return body.text.length > 500 ? `${body.text.slice(0, 500)}…` : body.text;
    return resp.statusText || 'no detail';
  }

  /**
   * JSON request. Answers {status, json, text}. A status >= 400 that is not
   * listed in opts.accept throws an ApiError carrying the answer's `detail`.
   */
  async function api(method, path, opts) {
    const o = opts || {};
    const resp = await rawFetch(method, path, o);
    const body = await bodyOf(resp);
    const accepted = (o.accept || []).includes(resp.status);
    if (resp.status >= 400 && !accepted) {
      const err = new ApiError(resp.status, detailOf(resp, body), method, path);
      if (err.auth) showAuthBanner(err);
      throw err;
    }
    if (resp.status < 400) noteAuthOk();
    return { status: resp.status, json: body.json, text: body.text };
  }

  // ------------------------------------------------------------ messages

  const banner = document.getElementById('banner');
  let bannerIsAuth = false;
  function showBanner(message, kind) {
    clear(banner);
    banner.className = `banner ${kind || ''}`;
    bannerIsAuth = kind === 'auth';
    append(banner, [
      h('div', { class: 'msg', 'data-testid': 'banner-message', text: message }),
      h('button', { type: 'button', title: 'Dismiss', onclick: hideBanner, text: '×' }),
    ]);
    banner.hidden = false;
  }
  function hideBanner() { banner.hidden = true; bannerIsAuth = false; }
  function showAuthBanner(err) {
    const has = !!getToken();
    const ask = has
      ? 'The token in the Token field was refused. Enter a valid token and press Save.'
      : 'This server needs a token: enter it in the Token field at the top right and press Save.';
    showBanner(`${ask}\n(${err.describe()})`, 'auth');
  }
  function noteAuthOk() { if (bannerIsAuth) hideBanner(); }

  /** An inline error box for an error; AbortErrors (page left) give nothing. */
  function errorBox(err, prefix) {
    if (err && err.name === 'AbortError') return null;
    let text;
    if (err instanceof ApiError) {
      text = err.describe();
      if (err.auth) text += '\nA token is needed: enter it in the Token field at the top right.';
    } else {
      text = err && err.message ? err.message : String(err);
    }
    return h('div', { class: 'error-box', 'data-testid': 'error', text: prefix ? `${prefix}: ${text}` : text });
  }
  function showError(container, err, prefix) {
    const box = errorBox(err, prefix);
    if (box) { clear(container); container.append(box); }
    return box;
  }

  // ------------------------------------------------------------- router

  /** One view's lifetime: its fetches are aborted and timers cleared on leave. */
  class View {
    constructor() {
      this.ctrl = new AbortController();
      this.cleanups = [];
      this.alive = true;
    }
    get signal() { return this.ctrl.signal; }
    onLeave(fn) { this.cleanups.push(fn); }
    every(ms, fn) {
      const id = setInterval(() => { if (this.alive) fn(); }, ms);
      this.onLeave(() => clearInterval(id));
    }
    after(ms, fn) {
      const id = setTimeout(() => { if (this.alive) fn(); }, ms);
      this.onLeave(() => clearTimeout(id));
    }
    dispose() {
      this.alive = false;
      this.ctrl.abort();
      for (const fn of this.cleanups) { try { fn(); } catch (_) { /* leaving anyway */ } }
    }
  }

  const app = document.getElementById('app');
  let view = null;

  function parseHash() {
    const raw = window.location.hash.replace(/^#/, '') || '/';
    const [path, query] = raw.split('?');
    const parts = path.split('/').filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch (_) { return p; } });
    return { parts, query: new URLSearchParams(query || '') };
  }

  function route() {
    if (view) view.dispose();
    view = new View();
    const { parts, query } = parseHash();
    clear(app);
    let section = 'workflows';
    if (parts.length === 0 || (parts[0] === 'workflows' && parts.length === 1)) {
      guard(renderWorkflows(view));
    } else if (parts[0] === 'workflows') {
      guard(renderWorkflow(view, parts[1]));
    } else if (parts[0] === 'runs' && parts.length === 1) {
      section = 'runs';
      guard(renderRuns(view, query));
    } else if (parts[0] === 'runs') {
      section = 'runs';
      guard(renderRun(view, parts[1]));
    } else {
      section = '';
      app.append(h('div', { class: 'card' }, h('h1', { text: 'Not found' }),
        h('p', { class: 'muted' }, 'No such page. ', h('a', { href: '#/', text: 'Go to the workflows.' }))));
    }
    for (const a of document.querySelectorAll('.nav a')) {
      a.classList.toggle('active', a.dataset.nav === section);
    }
    window.scrollTo(0, 0);
  }

  /** Awaits a view's promise: a page left (AbortError) is nothing, anything else is shown. */
  function guard(promise) {
    Promise.resolve(promise).catch((e) => {
      if (e && e.name === 'AbortError') return;
      showBanner(`Unexpected error: ${e && e.message ? e.message : e}`);
    });
  }

  function go(hash) {
    if (window.location.hash === hash) route();
    else window.location.hash = hash;
  }

  // ------------------------------------------------------ workflows view

  async function renderWorkflows(v) {
    const list = h('div', { class: 'wf-list', 'data-testid': 'workflow-list' });
    const status = h('div', {}, h('div', { class: 'empty', text: 'Loading workflows…' }));
    app.append(
      h('div', { class: 'page-head' }, h('h1', { text: 'Workflows' }), h('span', { class: 'spacer' }),
        h('a', { class: 'btn btn-ghost btn-small', href: '#/runs', text: 'All runs →' })),
      status, list,
    );
    let names;
    try {
      const r = await api('GET', '/workflows', { signal: v.signal });
      names = (r.json && Array.isArray(r.json.workflows)) ? r.json.workflows : [];
    } catch (e) {
      showError(status, e, 'Could not list the workflows');
      return;
    }
    clear(status);
    if (names.length === 0) {
      status.append(h('div', { class: 'empty', text: 'This server serves no workflow.' }));
      return;
    }
    const counts = {};
    for (const name of names) {
      const sub = h('span', { class: 'sub', text: 'open to start a run' });
      counts[name] = sub;
      list.append(h('a', { class: 'wf-item', href: `#/workflows/${enc(name)}`, 'data-testid': `workflow-link-${name}` },
        h('span', { class: 'name', text: name }), sub, graphView(v, name).el));
    }
    // Run counts per workflow (a nicety: its error is shown, not fatal).
    try {
      const r = await api('GET', '/handlers', { signal: v.signal });
      const handlers = (r.json && r.json.handlers) || [];
      for (const name of names) {
        const mine = handlers.filter((x) => x.workflow_name === name);
        if (mine.length === 0) continue;
        const running = mine.filter((x) => x.status === 'running').length;
        counts[name].textContent = `${mine.length} run${mine.length === 1 ? '' : 's'}${running ? `, ${running} running` : ''}`;
      }
    } catch (e) {
      const box = errorBox(e, 'Could not count runs');
      if (box) status.append(box);
    }
  }

  // ------------------------------------------------------ schema forms

  /** Resolves local `$ref`s (`#/$defs/X`, `#/definitions/X`) against root. */
  function deref(schema, root, depth) {
    let s = schema;
    let n = 0;
    while (s && typeof s === 'object' && typeof s.$ref === 'string' && n < 20) {
      const path = s.$ref.replace(/^#\/?/, '').split('/').filter(Boolean);
      let target = root;
      for (const p of path) target = target && typeof target === 'object' ? target[p.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
      if (!target) break;
      const rest = Object.assign({}, s);
      delete rest.$ref;
      s = Object.assign({}, target, rest);
      n += 1;
    }
    return depth > 30 ? {} : (s || {});
  }

  /** The field kind of a property schema: string/integer/number/boolean/enum/json. */
  function fieldKind(schema, root) {
    let s = deref(schema, root, 0);
    let nullable = false;
    const alts = s.anyOf || s.oneOf;
    if (Array.isArray(alts)) {
      const nonNull = alts.map((a) => deref(a, root, 0)).filter((a) => a.type !== 'null');
      nullable = nonNull.length < alts.length;
      if (nonNull.length === 1) s = Object.assign({}, nonNull[0], { default: s.default, title: s.title || nonNull[0].title, description: s.description || nonNull[0].description });
      else return { kind: 'json', schema: s, nullable };
    }
    if (Array.isArray(s.enum) && s.enum.length > 0 && s.enum.every((x) => ['string', 'number', 'boolean'].includes(typeof x) || x === null)) {
      return { kind: 'enum', schema: s, nullable: nullable || s.enum.includes(null) };
    }
    if (s.const !== undefined && ['string', 'number', 'boolean'].includes(typeof s.const)) {
      return { kind: 'enum', schema: Object.assign({}, s, { enum: [s.const] }), nullable };
    }
    let type = s.type;
    if (Array.isArray(type)) {
      const nonNull = type.filter((t) => t !== 'null');
      nullable = nullable || nonNull.length < type.length;
      type = nonNull.length === 1 ? nonNull[0] : 'json';
    }
    if (['string', 'integer', 'number', 'boolean'].includes(type)) return { kind: type, schema: s, nullable };
    return { kind: 'json', schema: s, nullable };
  }

  /**
   * A form generated from an object JSON Schema: one input per property,
   * required ones marked, defaults prefilled, and a raw-JSON toggle.
   * Answers {el, value()} where value() throws an Error for invalid input.
   */
  function schemaForm(schema, opts) {
    const o = opts || {};
    const root = schema || {};
    const obj = deref(root, root, 0);
    const props = (obj && typeof obj.properties === 'object' && obj.properties) || {};
    const required = new Set(Array.isArray(obj.required) ? obj.required : []);
    const fields = [];
    const fieldsEl = h('div', { class: 'form' });
    const idBase = `f${Math.random().toString(36).slice(2, 8)}`;

    for (const [name, propSchema] of Object.entries(props)) {
      const { kind, schema: s } = fieldKind(propSchema, root);
      const id = `${idBase}-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      const req = required.has(name);
      const hasDefault = s.default !== undefined || propSchema.default !== undefined;
      const def = propSchema.default !== undefined ? propSchema.default : s.default;
      const typeLabel = kind === 'json' ? (s.type ? String(s.type) : 'JSON') : kind;
      const label = h('label', { for: id }, name, req ? h('span', { class: 'req', title: 'required', text: '*' }) : null,
        h('span', { class: 'type', text: typeLabel }));
      const help = s.description || propSchema.description;
      let input;
      let read;
      let write;
      if (kind === 'boolean') {
        input = h('input', { id, type: 'checkbox', name, 'data-field': name, checked: hasDefault ? !!def : false });
        read = () => input.checked;
        write = (x) => { input.checked = !!x; };
        fields.push({ name, read, write, kind, req, always: true });
        fieldsEl.append(h('div', { class: 'field check' }, input, label, help ? h('span', { class: 'help', text: help }) : null));
        continue;
      }
      if (kind === 'enum') {
        input = h('select', { id, name, 'data-field': name });
        if (!req || !hasDefault) input.append(h('option', { value: '', text: req ? '— choose —' : '— none —' }));
        s.enum.forEach((x, i) => input.append(h('option', { value: String(i), text: JSON.stringify(x), selected: hasDefault && x === def })));
        read = () => (input.value === '' ? undefined : s.enum[Number(input.value)]);
        write = (x) => { const i = s.enum.findIndex((e) => e === x); input.value = i < 0 ? '' : String(i); };
      } else if (kind === 'string') {
        input = h('input', { id, type: 'text', name, 'data-field': name, value: hasDefault && def !== null ? String(def) : '', placeholder: s.examples ? String(s.examples[0]) : '' });
        read = () => (input.value === '' && !req ? undefined : input.value);
        write = (x) => { input.value = x === undefined || x === null ? '' : String(x); };
      } else if (kind === 'integer' || kind === 'number') {
        input = h('input', { id, type: 'number', name, 'data-field': name, step: kind === 'integer' ? '1' : 'any', value: hasDefault && def !== null ? String(def) : '' });
        if (s.minimum !== undefined) input.min = String(s.minimum);
        if (s.maximum !== undefined) input.max = String(s.maximum);
        read = () => {
          if (input.value.trim() === '') return undefined;
          const n = Number(input.value);
          if (!Number.isFinite(n)) throw new Error(`${name}: not a number`);
          if (kind === 'integer' && !Number.isInteger(n)) throw new Error(`${name}: must be an integer`);
          return n;
        };
        write = (x) => { input.value = typeof x === 'number' ? String(x) : ''; };
      } else {
        input = h('textarea', { id, name, 'data-field': name, rows: 3, spellcheck: 'false', placeholder: 'JSON value' });
        if (hasDefault) input.value = JSON.stringify(def, null, 2);
        read = () => {
          if (input.value.trim() === '') return undefined;
          try { return JSON.parse(input.value); } catch (e) { throw new Error(`${name}: invalid JSON (${e.message})`); }
        };
        write = (x) => { input.value = x === undefined ? '' : JSON.stringify(x, null, 2); };
      }
      fields.push({ name, read, write, kind, req });
      fieldsEl.append(h('div', { class: 'field' }, label, input, help ? h('span', { class: 'help', text: help }) : null));
    }

    const extraNote = Object.keys(props).length === 0
      ? h('div', { class: 'note-box', text: o.emptyNote || 'This event declares no fields. Use raw JSON to send any.' })
      : null;

    const raw = h('textarea', { class: 'raw', rows: 8, spellcheck: 'false', 'data-testid': `${o.testid || 'form'}-raw`, hidden: true });
    const rawToggle = h('input', { type: 'checkbox', 'data-testid': `${o.testid || 'form'}-raw-toggle` });
    const rawLabel = h('label', { class: 'toggle' }, rawToggle, 'raw JSON');

    function fromFields() {
      const out = {};
      for (const f of fields) {
        const x = f.read();
        if (x === undefined) continue;
        out[f.name] = x;
      }
      return out;
    }
    rawToggle.addEventListener('change', () => {
      if (rawToggle.checked) {
        let value = {};
        try { value = fromFields(); } catch (_) { /* start from what parses */ }
        raw.value = JSON.stringify(value, null, 2);
        raw.hidden = false;
        fieldsEl.hidden = true;
        if (extraNote) extraNote.hidden = true;
      } else {
        try {
          const value = JSON.parse(raw.value || '{}');
          if (value && typeof value === 'object' && !Array.isArray(value)) {
            for (const f of fields) f.write(value[f.name]);
          }
        } catch (_) { /* keep the fields as they were */ }
        raw.hidden = true;
        fieldsEl.hidden = false;
        if (extraNote) extraNote.hidden = false;
      }
    });

    const el = h('div', { class: 'schema-form' }, extraNote, fieldsEl, raw,
      h('div', { class: 'form-actions', style: 'margin-top:8px' }, rawLabel));
    return {
      el,
      value() {
        if (rawToggle.checked) {
          try { return JSON.parse(raw.value || '{}'); } catch (e) { throw new Error(`raw JSON: ${e.message}`); }
        }
        return fromFields();
      },
    };
  }

  // ---------------------------------------------------------------- graph

  /**
   * Loads the workflow's graph into `box` (data-testid=graph): the inline SVG
   * of GET /workflows/{name}/graph.svg, or, when that route is missing, a
   * list of steps from /representation. Answers a controller to mark steps.
   */
  function graphView(v, name) {
    const box = h('div', { class: 'graph', 'data-testid': 'graph' }, h('div', { class: 'empty', text: 'Loading graph…' }));
    const byStep = new Map(); // step name -> [elements]
    const byEvent = new Map();
    const marks = { running: new Map(), done: new Set(), seen: new Set() };
    let kind = 'none';

    function apply() {
      for (const [step, els] of byStep) {
        const running = (marks.running.get(step) || 0) > 0;
        for (const el of els) {
          el.classList.toggle('running', running);
          el.classList.toggle('done', marks.done.has(step));
        }
      }
      for (const [ev, els] of byEvent) for (const el of els) el.classList.toggle('seen', marks.seen.has(ev));
    }
    function index(root) {
      byStep.clear();
      byEvent.clear();
      for (const el of root.querySelectorAll('.node.step[data-step]')) {
        const k = el.getAttribute('data-step');
        if (!byStep.has(k)) byStep.set(k, []);
        byStep.get(k).push(el);
      }
      for (const el of root.querySelectorAll('.node.event[data-event]')) {
        const k = el.getAttribute('data-event');
        if (!byEvent.has(k)) byEvent.set(k, []);
        byEvent.get(k).push(el);
      }
      apply();
    }

    async function loadSvg() {
      const path = `/workflows/${enc(name)}/graph.svg`;
      const resp = await rawFetch('GET', path, { signal: v.signal });
      if (resp.status === 404 || resp.status === 405 || resp.status === 501) {
        await resp.text();
        return false;
      }
      const text = await resp.text();
      if (!resp.ok) {
        let detail = text;
        try { const j = JSON.parse(text); if (j && j.detail) detail = j.detail; } catch (_) { /* not JSON */ }
        const err = new ApiError(resp.status, detail || resp.statusText, 'GET', path);
        if (err.auth) showAuthBanner(err);
        throw err;
      }
      const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      const svg = doc.documentElement;
      if (!svg || svg.nodeName.toLowerCase() !== 'svg' || doc.getElementsByTagName('parsererror').length) {
        throw new Error(`${path} did not answer an SVG document`);
      }
      // Keep the SVG inert: no scripts, no event handler attributes, no external links.
      for (const s of svg.querySelectorAll('script, foreignObject')) s.remove();
      for (const el of [svg, ...svg.querySelectorAll('*')]) {
        for (const attr of [...el.attributes]) {
          const n = attr.name.toLowerCase();
          const val = attr.value.trim().toLowerCase();
          if (n.startsWith('on')) el.removeAttribute(attr.name);
          else if ((n === 'href' || n === 'xlink:href') && !val.startsWith('#')) el.removeAttribute(attr.name);
        }
      }
      clear(box);
      box.append(document.importNode(svg, true));
      kind = 'svg';
      index(box);
      return true;
    }

    async function loadList() {
      const r = await api('GET', `/workflows/${enc(name)}/representation`, { signal: v.signal });
      const graph = (r.json && r.json.graph) || {};
      const nodes = Array.isArray(graph.nodes) ? graph.nodes : [];
      const edges = Array.isArray(graph.edges) ? graph.edges : [];
      const nodeById = new Map(nodes.map((n) => [n.id, n]));
      const list = h('div', { class: 'graph-list' });
      const steps = nodes.filter((n) => n.node_type === 'step');
      const label = (id) => {
        const n = nodeById.get(id);
        return h('span', { class: `chip${n && n.node_type === 'external' ? ' ext' : ''}`, text: n ? (n.label || n.id) : id });
      };
      for (const s of steps) {
        const inputs = edges.filter((e) => e.target === s.id).map((e) => e.source);
        const outputs = edges.filter((e) => e.source === s.id).map((e) => e.target);
        list.append(h('div', { class: 'node step', 'data-step': s.id },
          inputs.length ? inputs.map(label) : h('span', { class: 'muted small', text: '(none)' }),
          h('span', { class: 'arrow', text: '→' }),
          h('span', { class: 'nm', text: s.label || s.id }),
          h('span', { class: 'arrow', text: '→' }),
          outputs.length ? outputs.map(label) : h('span', { class: 'muted small', text: '(nothing)' })));
      }
      const externals = nodes.filter((n) => n.node_type === 'external');
      for (const x of externals) {
        const inputs = edges.filter((e) => e.target === x.id).map((e) => e.source);
        const outputs = edges.filter((e) => e.source === x.id).map((e) => e.target);
        list.append(h('div', { class: 'node external' },
          inputs.map(label), h('span', { class: 'arrow', text: '→' }),
          h('span', { class: 'nm muted', text: `${x.label || x.id} (outside the run)` }),
          h('span', { class: 'arrow', text: '→' }), outputs.map(label)));
      }
      clear(box);
      box.append(list);
      if (steps.length === 0) box.append(h('div', { class: 'empty', text: 'The workflow has no step.' }));
      box.append(h('div', { class: 'graph-legend' }, h('span', { text: 'Steps from /representation (the SVG graph route is not available).' })));
      kind = 'list';
      index(box);
    }

    (async () => {
      try {
        const ok = await loadSvg();
        if (!ok) await loadList();
      } catch (e) {
        if (e && e.name === 'AbortError') return;
        if (kind === 'none') {
          // The SVG failed for another reason: show why and still try the list.
          const box2 = errorBox(e, 'Graph');
          try { await loadList(); } catch (e2) { showError(box, e2, 'Could not load the graph'); }
          if (box2) box.prepend(box2);
        }
      }
    })();

    return {
      el: box,
      stepRunning(step, delta) {
        marks.running.set(step, Math.max(0, (marks.running.get(step) || 0) + delta));
        if (delta < 0) marks.done.add(step);
        apply();
      },
      eventSeen(type) { if (!marks.seen.has(type)) { marks.seen.add(type); apply(); } },
      reset() { marks.running.clear(); apply(); },
      stopAll() { marks.running.clear(); apply(); },
    };
  }

  function graphLegend() {
    return h('div', { class: 'graph-legend' },
      h('span', {}, h('span', { class: 'sw run' }), 'running now'),
      h('span', {}, h('span', { class: 'sw done' }), 'has run'),
      h('span', {}, h('span', { class: 'sw ev' }), 'event seen on the stream'));
  }

  // ------------------------------------------------------- workflow view

  /** The body to POST for a start event: the bare value, or an envelope when the bare value would be read as one. */
  function startEventBody(value, schema) {
    const isObj = value && typeof value === 'object' && !Array.isArray(value);
    const looksLikeEnvelope = isObj && ('value' in value || 'data' in value || ('type' in value && 'qualified_name' in value));
    if (looksLikeEnvelope && schema && typeof schema.title === 'string') {
      return { start_event: { type: schema.title, value } };
    }
    return { start_event: value };
  }

  async function renderWorkflow(v, name) {
    const formBox = h('div', {}, h('div', { class: 'empty', text: 'Loading start schema…' }));
    const schemaBox = h('div', {}, h('div', { class: 'empty', text: 'Loading…' }));
    const runsBox = h('div', {}, h('div', { class: 'empty', text: 'Loading runs…' }));
    const graph = graphView(v, name);
    app.append(
      h('div', { class: 'crumbs' }, h('a', { href: '#/', text: 'Workflows' }), ' / '),
      h('div', { class: 'page-head' }, h('h1', { class: 'mono', text: name }), h('span', { class: 'spacer' }),
        h('a', { class: 'btn btn-ghost btn-small', href: `#/runs?workflow=${enc(name)}`, text: 'Runs of this workflow →' })),
      h('div', { class: 'grid-2' },
        h('div', { class: 'stack' },
          h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', { text: 'Start a run' })), formBox),
          h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', { text: 'Recent runs' })), runsBox)),
        h('div', { class: 'stack' },
          h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', { text: 'Graph' })), graph.el, graphLegend()),
          h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', { text: 'Event schemas' })), schemaBox))),
    );

    // Schema + start form.
    let schema;
    try {
      const r = await api('GET', `/workflows/${enc(name)}/schema`, { signal: v.signal });
      schema = r.json || {};
    } catch (e) {
      showError(formBox, e, 'Could not read the start schema');
      showError(schemaBox, e, 'Could not read the schemas');
      loadRecentRuns(v, name, runsBox);
      return;
    }
    const start = schema.start || { type: 'object' };
    clear(schemaBox);
    schemaBox.append(
      h('h3', { text: `Start: ${start.title || 'StartEvent'}` }), jsonPre(start),
      h('h3', { text: `Stop: ${(schema.stop && schema.stop.title) || 'StopEvent'}` }), jsonPre(schema.stop || {}),
    );

    const sf = schemaForm(start, { testid: 'start', emptyNote: 'The start event declares no fields: submit to start with an empty event, or use raw JSON to send fields.' });
    const msg = h('div', {});
    const handlerIdInput = h('input', { type: 'text', placeholder: 'auto', 'data-testid': 'start-handler-id', spellcheck: 'false' });
    const submit = h('button', { class: 'btn', type: 'submit', 'data-testid': 'start-submit', text: 'Start run' });
    const form = h('form', { class: 'form', 'data-testid': 'start-form', novalidate: true },
      h('div', { class: 'muted small', text: `Start event ${start.title || ''}` }),
      sf.el,
      h('details', { class: 'schema' }, h('summary', { text: 'Options' }),
        h('div', { class: 'field', style: 'margin-top:8px' }, h('label', { text: 'handler_id (optional)' }), handlerIdInput)),
      h('div', { class: 'form-actions' }, submit),
      msg);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clear(msg);
      let value;
      try { value = sf.value(); } catch (e) { msg.append(errorBox(e)); return; }
      const body = startEventBody(value, start);
      if (handlerIdInput.value.trim()) body.handler_id = handlerIdInput.value.trim();
      submit.disabled = true;
      submit.textContent = 'Starting…';
      try {
        const r = await api('POST', `/workflows/${enc(name)}/run-nowait`, { body, signal: v.signal });
        const id = r.json && r.json.handler_id;
        if (!id) throw new Error('the server answered no handler_id');
        go(`#/runs/${enc(id)}`);
      } catch (e) {
        const box = errorBox(e, 'Could not start the run');
        if (box) msg.append(box);
      } finally {
        submit.disabled = false;
        submit.textContent = 'Start run';
      }
    });
    clear(formBox);
    formBox.append(form);
    loadRecentRuns(v, name, runsBox);
  }

  async function loadRecentRuns(v, name, box) {
    try {
      const r = await api('GET', `/handlers?workflow_name=${enc(name)}`, { signal: v.signal });
      const handlers = sortHandlers(((r.json && r.json.handlers) || []).filter((x) => x.workflow_name === name)).slice(0, 8);
      clear(box);
      if (handlers.length === 0) { box.append(h('div', { class: 'empty', text: 'No run yet.' })); return; }
      box.append(runsTable(handlers, { hideWorkflow: true }));
    } catch (e) {
      showError(box, e, 'Could not list the runs');
    }
  }

  // ------------------------------------------------------------ runs view

  function sortHandlers(list) {
    return list.slice().sort((a, b) => String(b.started_at || '').localeCompare(String(a.started_at || '')));
  }

  function runsTable(handlers, opts) {
    const o = opts || {};
    const head = h('tr', {}, h('th', { text: 'Handler' }), o.hideWorkflow ? null : h('th', { text: 'Workflow' }),
      h('th', { text: 'Status' }), h('th', { text: 'Started' }), h('th', { text: 'Duration' }), h('th', { text: 'Outcome' }));
    const body = h('tbody', {});
    for (const x of handlers) {
      const end = x.completed_at || (x.status === 'running' ? null : x.updated_at);
      let outcome = '';
      if (x.error) outcome = h('span', { class: 'err', title: x.error, text: x.error });
      else if (x.result) outcome = h('span', { class: 'mono small', text: shortJson(resultValue(x.result), 80) });
      body.append(h('tr', { 'data-testid': 'run-row', 'data-handler': x.handler_id },
        h('td', { class: 'mono' }, h('a', { href: `#/runs/${enc(x.handler_id)}`, 'data-testid': `run-link-${x.handler_id}`, text: x.handler_id })),
        o.hideWorkflow ? null : h('td', { class: 'mono' }, h('a', { href: `#/workflows/${enc(x.workflow_name)}`, text: x.workflow_name })),
        h('td', {}, badge(x.status)),
        h('td', { class: 'mono', title: x.started_at || '', text: fmtTime(x.started_at) }),
        h('td', { class: 'mono', text: fmtDuration(between(x.started_at, end)) }),
        h('td', {}, outcome)));
    }
    return h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'runs-table' }, h('thead', {}, head), body));
  }

  function shortJson(x, n) {
    let s;
    if (typeof x === 'string') s = x;
    else { try { s = JSON.stringify(x); } catch (_) { s = String(x); } }
    if (s === undefined) s = '';
    return s.length > n ? `${s.slice(0, n)}…` : s;
  }

  /** The interesting part of a result envelope: value.result for a plain StopEvent, else the value. */
  function resultValue(result) {
    if (!result || typeof result !== 'object') return result;
    const value = 'value' in result ? result.value : result;
    if (value && typeof value === 'object' && !Array.isArray(value) && result.type === 'StopEvent') {
      const keys = Object.keys(value);
      if (keys.length === 1 && keys[0] === 'result') return value.result;
      if (keys.length === 0) return null;
    }
    return value;
  }

  async function renderRuns(v, query) {
    const wfSelect = h('select', { 'data-testid': 'filter-workflow' }, h('option', { value: '', text: 'all workflows' }));
    const stSelect = h('select', { 'data-testid': 'filter-status' }, h('option', { value: '', text: 'any status' }),
      STATUSES.map((s) => h('option', { value: s, text: s })));
    const wanted = { workflow: query.get('workflow') || '', status: query.get('status') || '' };
    if (wanted.workflow) wfSelect.append(h('option', { value: wanted.workflow, text: wanted.workflow }));
    wfSelect.value = wanted.workflow;
    stSelect.value = wanted.status;
    const auto = h('input', { type: 'checkbox', checked: true, 'data-testid': 'auto-refresh' });
    const refreshBtn = h('button', { class: 'btn btn-ghost btn-small', type: 'button', 'data-testid': 'refresh', text: 'Refresh' });
    const stamp = h('span', { class: 'muted small' });
    const tableBox = h('div', {}, h('div', { class: 'empty', text: 'Loading runs…' }));
    app.append(
      h('div', { class: 'page-head' }, h('h1', { text: 'Runs' }), h('span', { class: 'spacer' }), stamp),
      h('section', { class: 'card' },
        h('div', { class: 'filters' },
          h('div', { class: 'field' }, h('label', { text: 'Workflow' }), wfSelect),
          h('div', { class: 'field' }, h('label', { text: 'Status' }), stSelect),
          h('div', { class: 'form-actions' }, refreshBtn, h('label', { class: 'toggle' }, auto, 'auto-refresh every 3 s'))),
        tableBox),
    );

    const applyFilters = () => {
      const q = new URLSearchParams();
      if (wfSelect.value) q.set('workflow', wfSelect.value);
      if (stSelect.value) q.set('status', stSelect.value);
      const s = q.toString();
      history.replaceState(null, '', `${window.location.pathname}${window.location.search}#/runs${s ? `?${s}` : ''}`);
      refresh();
    };
    wfSelect.addEventListener('change', applyFilters);
    stSelect.addEventListener('change', applyFilters);
    refreshBtn.addEventListener('click', () => refresh());

    let inFlight = false;
    async function refresh() {
      if (inFlight) return;
      inFlight = true;
      const q = new URLSearchParams();
      if (stSelect.value) q.append('status', stSelect.value);
      if (wfSelect.value) q.append('workflow_name', wfSelect.value);
      const qs = q.toString();
      try {
        const r = await api('GET', `/handlers${qs ? `?${qs}` : ''}`, { signal: v.signal });
        let handlers = (r.json && r.json.handlers) || [];
        // Filter here too, in case the server ignores the query.
        if (stSelect.value) handlers = handlers.filter((x) => x.status === stSelect.value);
        if (wfSelect.value) handlers = handlers.filter((x) => x.workflow_name === wfSelect.value);
        handlers = sortHandlers(handlers);
        clear(tableBox);
        if (handlers.length === 0) tableBox.append(h('div', { class: 'empty', text: 'No run matches.' }));
        else tableBox.append(runsTable(handlers));
        stamp.textContent = `updated ${fmtTime(new Date().toISOString())} · ${handlers.length} run${handlers.length === 1 ? '' : 's'}`;
      } catch (e) {
        showError(tableBox, e, 'Could not list the runs');
      } finally {
        inFlight = false;
      }
    }

    refresh();
    v.every(3000, () => {
      if (auto.checked && document.visibilityState === 'visible') refresh();
    });
    try {
      const r = await api('GET', '/workflows', { signal: v.signal });
      for (const name of (r.json && r.json.workflows) || []) {
        if (name !== wanted.workflow) wfSelect.append(h('option', { value: name, text: name }));
      }
    } catch (e) {
      const box = errorBox(e, 'Could not list the workflows');
      if (box) tableBox.before(box);
    }
  }

  // -------------------------------------------------------------- run view

  async function renderRun(v, id) {
    const statusEl = h('span', { 'data-testid': 'run-status', 'data-status': '' }, badge('loading'));
    const cancelBtn = h('button', { class: 'btn btn-danger btn-small', type: 'button', 'data-testid': 'cancel-run', text: 'Cancel run', hidden: true });
    const wfLink = h('a', { class: 'mono' });
    const kv = {
      workflow: h('dd', {}, wfLink),
      run: h('dd', { class: 'mono' }),
      started: h('dd', { class: 'mono' }),
      updated: h('dd', { class: 'mono' }),
      completed: h('dd', { class: 'mono' }),
      duration: h('dd', { class: 'mono' }),
    };
    const headMsg = h('div', {});
    const resultBox = h('div', { 'data-testid': 'run-result', 'data-state': 'pending' }, h('div', { class: 'empty', text: 'Loading…' }));
    const promptBox = h('div', {});
    const promptCard = h('section', { class: 'card prompt-card', hidden: true, 'data-testid': 'prompt-card' },
      h('div', { class: 'card-head' }, h('h2', { text: 'Input required' })), promptBox);
    const stateBox = h('div', { 'data-testid': 'state' }, h('div', { class: 'empty', text: 'Loading…' }));
    const timelineBox = h('div', { class: 'timeline', 'data-testid': 'timeline' }, h('div', { class: 'empty', text: 'No step call yet.' }));
    const timelineNote = h('div', { class: 'muted small', style: 'margin-top:6px' });
    const eventsList = h('div', { class: 'events', 'data-testid': 'events' });
    const showInternal = h('input', { type: 'checkbox', 'data-testid': 'show-internal', checked: load(INTERNAL_KEY) === '1' });
    const streamState = h('span', { class: 'stream-state', 'data-testid': 'stream-state' }, h('span', { class: 'dot' }), h('span', { class: 'txt', text: 'connecting' }));
    const eventsMsg = h('div', {});
    const eventCount = h('span', { class: 'muted small' });
    const graphCard = h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', { text: 'Graph' })), h('div', { class: 'empty', text: 'Loading…' }));

    eventsList.classList.toggle('hide-internal', !showInternal.checked);
    showInternal.addEventListener('change', () => {
      eventsList.classList.toggle('hide-internal', !showInternal.checked);
      store(INTERNAL_KEY, showInternal.checked ? '1' : '');
      updateCount();
    });

    app.append(
      h('div', { class: 'crumbs' }, h('a', { href: '#/runs', text: 'Runs' }), ' / '),
      h('div', { class: 'page-head' }, h('h1', { class: 'mono', text: id }), statusEl, h('span', { class: 'spacer' }), cancelBtn),
      headMsg,
      h('div', { class: 'grid-run' },
        h('div', { class: 'stack' },
          promptCard,
          h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', { text: 'Result' })), resultBox),
          h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', { text: 'Run' })),
            h('dl', { class: 'kv' },
              h('dt', { text: 'workflow' }), kv.workflow,
              h('dt', { text: 'run id' }), kv.run,
              h('dt', { text: 'started' }), kv.started,
              h('dt', { text: 'updated' }), kv.updated,
              h('dt', { text: 'completed' }), kv.completed,
              h('dt', { text: 'duration' }), kv.duration)),
          h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', { text: 'State' }), h('span', { class: 'spacer' }),
            h('button', { class: 'btn btn-ghost btn-small', type: 'button', onclick: () => loadState(), text: 'Reload' })), stateBox)),
        h('div', { class: 'stack' },
          graphCard,
          h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', { text: 'Timeline' }), h('span', { class: 'spacer' }), h('span', { class: 'muted small', text: 'one bar per step call' })), timelineBox, timelineNote))),
      h('section', { class: 'card', style: 'margin-top:16px' },
        h('div', { class: 'card-head' }, h('h2', { text: 'Events' }), eventCount, h('span', { class: 'spacer' }), streamState,
          h('label', { class: 'toggle' }, showInternal, 'show internal events')),
        eventsMsg, eventsList),
    );

    // ---- run model
    const run = {
      handler: null,
      terminal: false,
      events: [],
      open: new Map(), // "step\u0000worker" -> bar
      bars: [],
      prompts: [], // {seq, env, answered}
      streamOpenedAt: 0,
      streamDone: false,
      eventSchemas: null,
      graph: null,
    };

    function setStatus(status) {
      clear(statusEl);
      statusEl.append(badge(status, true));
      statusEl.dataset.status = status;
      cancelBtn.hidden = status !== 'running';
    }

    function renderHandler(x) {
      run.handler = x;
      setStatus(x.status);
      wfLink.textContent = x.workflow_name;
      wfLink.href = `#/workflows/${enc(x.workflow_name)}`;
      kv.run.textContent = x.run_id || '—';
      kv.started.textContent = fmtTime(x.started_at);
      kv.started.title = x.started_at || '';
      kv.updated.textContent = fmtTime(x.updated_at);
      kv.updated.title = x.updated_at || '';
      kv.completed.textContent = fmtTime(x.completed_at);
      kv.completed.title = x.completed_at || '';
      const end = x.completed_at || (x.status === 'running' ? null : x.updated_at);
      kv.duration.textContent = fmtDuration(between(x.started_at, end)) + (x.status === 'running' ? ' (so far)' : '');
      clear(resultBox);
      resultBox.dataset.state = x.status;
      if (x.status === 'completed') {
        const value = resultValue(x.result);
        resultBox.append(h('div', { class: 'ok-box', text: 'Completed' }));
        if (typeof value === 'string') resultBox.append(h('div', { class: 'result-value str', 'data-testid': 'result-value', text: value }));
        else resultBox.append(jsonPre(value));
        if (x.result && typeof x.result === 'object') {
          resultBox.append(h('details', { class: 'schema' }, h('summary', { text: `stop event envelope (${x.result.type || '?'})` }), jsonPre(x.result)));
        }
        if (x.result_unreadable) resultBox.append(h('div', { class: 'error-box', text: 'The stored result cannot be decoded.' }));
      } else if (x.status === 'failed') {
        resultBox.append(h('div', { class: 'error-box', 'data-testid': 'result-error', text: `Failed: ${x.error || 'no error message'}` }));
      } else if (x.status === 'cancelled') {
        resultBox.append(h('div', { class: 'note-box', text: 'Cancelled.' + (x.error ? ` ${x.error}` : '') }));
      } else {
        resultBox.append(h('div', { class: 'empty', text: 'Running: no result yet.' }));
      }
      if (x.status !== 'running') {
        run.terminal = true;
        renderPrompts();
      }
    }

    async function loadHandler() {
      const r = await api('GET', `/handlers/${enc(id)}`, { accept: [500], signal: v.signal });
      const x = r.json;
      if (!x || typeof x !== 'object' || !x.handler_id) {
        throw new ApiError(r.status, r.text || 'unexpected answer', 'GET', `/handlers/${id}`);
      }
      renderHandler(x);
      return x;
    }

    async function loadState() {
      try {
        const r = await api('GET', `/handlers/${enc(id)}/state`, { accept: [404], signal: v.signal });
        clear(stateBox);
        if (r.status === 404) {
          stateBox.dataset.state = 'none';
          stateBox.append(h('div', { class: 'empty', text: 'No state saved.' }));
          return;
        }
        stateBox.dataset.state = 'loaded';
        const state = r.json && typeof r.json === 'object' && 'state' in r.json ? r.json.state : r.json;
        if (state && typeof state === 'object' && Object.keys(state).length === 0) {
          stateBox.append(h('div', { class: 'empty', text: 'The state is empty.' }));
        } else {
          stateBox.append(jsonPre(state));
        }
      } catch (e) {
        showError(stateBox, e, 'Could not read the state');
      }
    }

    // ---- cancel
    // Two clicks to cancel (no window.confirm: it blocks the page and automation).
    let armed = null;
    cancelBtn.addEventListener('click', async () => {
      if (!armed) {
        cancelBtn.textContent = 'Click again to cancel';
        armed = setTimeout(() => { armed = null; cancelBtn.textContent = 'Cancel run'; }, 4000);
        return;
      }
      clearTimeout(armed);
      armed = null;
      cancelBtn.textContent = 'Cancelling…';
      cancelBtn.disabled = true;
      clear(headMsg);
      try {
        const r = await api('POST', `/handlers/${enc(id)}/cancel`, { signal: v.signal });
        headMsg.append(h('div', { class: 'note-box', text: `Cancel: ${(r.json && r.json.status) || 'done'}` }));
        await refreshAll();
      } catch (e) {
        const box = errorBox(e, 'Could not cancel');
        if (box) headMsg.append(box);
      } finally {
        cancelBtn.disabled = false;
        cancelBtn.textContent = 'Cancel run';
      }
    });
    v.onLeave(() => { if (armed) clearTimeout(armed); });

    async function refreshAll() {
      try { await loadHandler(); } catch (e) { showError(headMsg, e, 'Could not read the run'); }
      loadState();
    }

    // ---- prompts
    function promptText(env) {
      const value = env.value || {};
      const data = value._data && typeof value._data === 'object' ? value._data : value;
      if (typeof data.prefix === 'string') return data.prefix;
      if (typeof data.prompt === 'string') return data.prompt;
      if (typeof data.message === 'string') return data.message;
      return null;
    }
    function pendingPrompts() {
      if (run.terminal) return [];
      return run.prompts.filter((p) => !p.answered);
    }
    function renderPrompts() {
      const pending = pendingPrompts();
      promptCard.hidden = pending.length === 0;
      clear(promptBox);
      if (pending.length === 0) return;
      const p = pending[pending.length - 1];
      const text = promptText(p.env);
      promptBox.append(h('div', { class: 'prompt-text', 'data-testid': 'prompt-text' }, text !== null ? text : ''));
      if (text === null || Object.keys(p.env.value || {}).some((k) => k !== '_data' && k !== 'prefix')) {
        promptBox.append(jsonPre(p.env.value));
      }
      if (pending.length > 1) promptBox.append(h('div', { class: 'muted small', text: `${pending.length} prompts wait; answering the latest (event #${p.seq}).` }));
      promptBox.append(promptForm(p));
    }

    function promptForm(p) {
      const msg = h('div', {});
      const formBox = h('div', {});
      const typeSelect = h('select', { 'data-testid': 'prompt-type' });
      const schemas = run.eventSchemas || [];
      const names = schemas.map((s) => s.title).filter((t) => typeof t === 'string');
      // HumanResponseEvent is preselected, offered even when the server's
      // list of the workflow's events does not name it (wflow's HITL
      // guests wait for it without declaring it).
      const preferred = 'HumanResponseEvent';
      const i = names.indexOf(preferred);
      if (i >= 0) names.splice(i, 1);
      names.unshift(preferred);
      for (const n of names) typeSelect.append(h('option', { value: n, text: n, selected: n === preferred }));
      let sf = null;
      const build = () => {
        const schema = schemas.find((s) => s.title === typeSelect.value)
          || (typeSelect.value === 'HumanResponseEvent'
            ? { title: 'HumanResponseEvent', type: 'object', properties: { response: { type: 'string', title: 'Response' } }, required: ['response'] }
            : { type: 'object' });
        sf = schemaForm(schema, { testid: 'prompt', emptyNote: 'This event declares no fields.' });
        clear(formBox);
        formBox.append(sf.el);
        const first = formBox.querySelector('input[type=text], textarea, input[type=number]');
        if (first) first.setAttribute('data-testid', 'prompt-input');
      };
      typeSelect.addEventListener('change', build);
      build();
      const submit = h('button', { class: 'btn', type: 'submit', 'data-testid': 'prompt-submit', text: 'Send' });
      const form = h('form', { class: 'form', 'data-testid': 'prompt-form', novalidate: true },
        h('div', { class: 'field' }, h('label', { text: 'Event to send' }), typeSelect),
        formBox,
        h('div', { class: 'form-actions' }, submit),
        msg);
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        clear(msg);
        let value;
        try { value = sf.value(); } catch (e) { msg.append(errorBox(e)); return; }
        submit.disabled = true;
        try {
          await api('POST', `/events/${enc(id)}`, { body: { event: { type: typeSelect.value, value } }, signal: v.signal });
          for (const q of run.prompts) if (q.seq <= p.seq) q.answered = true;
          renderPrompts();
          headMsg.append(h('div', { class: 'ok-box', 'data-testid': 'prompt-sent', text: `Sent ${typeSelect.value}.` }));
          v.after(4000, () => clear(headMsg));
        } catch (e) {
          const box = errorBox(e, 'Could not send the event');
          if (box) msg.append(box);
        } finally {
          submit.disabled = false;
        }
      });
      return form;
    }

    // ---- timeline
    /** The duration text of one call, or null when this page cannot know it. */
    function callDuration(b, now) {
      if (b.endAt !== null && b.startLive) return fmtDuration(b.endAt - b.startAt);
      if (b.endAt === null && !run.terminal && b.startLive) return `${fmtDuration(now - b.startAt)}…`;
      if (b.endAt !== null && b.endLive) return `≥ ${fmtDuration(b.endAt - b.startAt)}`;
      return null;
    }

    // One lane per step and worker, one bar per call (a retry or a re-run
    // of the step is a bar of its own in the same lane).
    function timelineRender() {
      clear(timelineBox);
      if (run.bars.length === 0) {
        timelineBox.append(h('div', { class: 'empty', text: run.streamDone ? 'No step call was streamed.' : 'No step call yet.' }));
        timelineNote.textContent = '';
        return;
      }
      const now = performance.now();
      const lastSeq = Math.max(0, run.events.length - 1);
      const timed = run.bars.every((b) => b.startLive);
      let lo;
      let hi;
      let pos;
      if (timed) {
        lo = Math.min(...run.bars.map((b) => b.startAt));
        hi = Math.max(...run.bars.map((b) => (b.endAt !== null ? b.endAt : now)), lo + 1);
        pos = (b) => [b.startAt, b.endAt !== null ? b.endAt : now];
      } else {
        lo = 0;
        hi = Math.max(lastSeq + 1, 1);
        pos = (b) => [b.startSeq, b.endSeq !== null ? b.endSeq + 1 : (run.terminal ? lastSeq + 1 : hi)];
      }
      const span = Math.max(hi - lo, 1e-9);
      const lanes = new Map();
      for (const b of run.bars) {
        const key = `${b.step}\u0000${b.worker}`;
        if (!lanes.has(key)) lanes.set(key, { step: b.step, worker: b.worker, bars: [] });
        lanes.get(key).bars.push(b);
      }
      timelineBox.append(h('div', { class: 'tl-axis' }, h('span', { text: 'step · worker' }),
        h('span', { class: 'ticks' }, h('span', { text: timed ? '0' : '#0' }), h('span', { text: timed ? fmtDuration(span) : `#${hi - 1}` })),
        h('span', { style: 'text-align:right', text: 'duration' })));
      for (const lane of lanes.values()) {
        const track = h('span', { class: 'track' });
        for (const b of lane.bars) {
          const [s, e] = pos(b);
          const left = ((s - lo) / span) * 100;
          const width = Math.max(((e - s) / span) * 100, 0.6);
          const open = b.endSeq === null && !run.terminal;
          const dur = callDuration(b, now);
          const title = `${b.step} (worker ${b.worker}), call ${lane.bars.indexOf(b) + 1} of ${lane.bars.length}: `
            + `events #${b.startSeq}–${b.endSeq !== null ? `#${b.endSeq}` : 'open'}`
            + `${dur ? `, ${dur}` : ''}${b.input ? `\nin: ${b.input}` : ''}${b.output ? `\nout: ${b.output}` : ''}`;
          track.append(h('span', {
            class: `bar${open ? ' open' : ''}${b.failed ? ' failed' : ''}`,
            'data-testid': 'timeline-bar',
            'data-step': b.step,
            title,
            style: `left:${left.toFixed(3)}%;width:${Math.min(width, 100 - left).toFixed(3)}%`,
          }));
        }
        let dur;
        if (lane.bars.length === 1) dur = callDuration(lane.bars[0], now) || (lane.bars[0].endSeq === null && !run.terminal ? 'running' : '—');
        else dur = `${lane.bars.length} calls`;
        timelineBox.append(h('div', { class: 'tl-row', 'data-step': lane.step },
          h('span', { class: 'lbl', title: `${lane.step} · worker ${lane.worker}` }, lane.step, h('span', { class: 'w', text: ` · ${lane.worker}` })),
          track,
          h('span', { class: 'dur', text: dur })));
      }
      timelineNote.textContent = timed
        ? 'Time axis: when this page received each event. Hover a bar for its call.'
        : 'Axis: position in the event stream. The events carry no timestamps, so a call\'s duration is known only when this page saw it start live. Hover a bar for its call.';
    }
    let tlTimer = null;
    function timelineSoon() {
      if (tlTimer) return;
      tlTimer = setTimeout(() => { tlTimer = null; if (v.alive) timelineRender(); }, 80);
    }
    v.onLeave(() => { if (tlTimer) clearTimeout(tlTimer); });
    v.every(500, () => { if (!run.terminal && run.bars.some((b) => b.endSeq === null)) timelineRender(); });

    // ---- events
    function updateCount() {
      const total = run.events.length;
      const internal = run.events.filter((e) => e.internal).length;
      eventCount.textContent = showInternal.checked ? `${total}` : `${total - internal} shown · ${internal} internal hidden`;
    }

    function onEvent(env, live) {
      const seq = run.events.length;
      const at = performance.now();
      const internal = isInternal(env);
      run.events.push({ seq, env, internal, at });
      const classes = ['event-row'];
      if (internal) classes.push('internal');
      if (isTerminal(env)) classes.push(isFailure(env) ? 'fail' : 'stop');
      if (isPrompt(env)) classes.push('prompt');
      const parents = Array.isArray(env.types) && env.types.length ? env.types.join(', ') : null;
      const valEl = h('span', { class: 'val' });
      valEl.innerHTML = jsonHtml(env.value, 0);
      let pretty = false;
      const row = h('div', { class: classes.join(' '), 'data-testid': 'event-row', 'data-type': env.type || '', 'data-seq': String(seq), title: env.qualified_name || '' },
        h('span', { class: 'seq', text: `#${seq}` }),
        h('span', { class: 'at', title: live ? 'when this page received it, after the stream opened' : 'already stored when the stream opened', text: live ? `+${fmtDuration(at - run.streamOpenedAt)}` : 'stored' }),
        h('span', { class: 'etype' }, env.type || '?', parents ? h('span', { class: 'parents', text: parents }) : null),
        valEl);
      row.addEventListener('click', () => { pretty = !pretty; valEl.innerHTML = jsonHtml(env.value, pretty ? 2 : 0); });
      eventsList.append(row);

      if (run.graph && env.type && !internal) run.graph.eventSeen(env.type);

      if (env.type === 'StepStateChanged' && env.value && typeof env.value === 'object') {
        const step = String(env.value.name || '?');
        const worker = String(env.value.worker_id !== undefined ? env.value.worker_id : '0');
        const key = `${step}\u0000${worker}`;
        if (env.value.step_state === 'running') {
          const prev = run.open.get(key);
          if (prev) { closeBar(prev, seq, at, live, null); }
          const bar = { step, worker, startSeq: seq, endSeq: null, startAt: at, endAt: null, startLive: live, endLive: false, input: env.value.input_event_name, output: null, failed: false };
          run.open.set(key, bar);
          run.bars.push(bar);
          if (run.graph) run.graph.stepRunning(step, +1);
          // A prompt is answered when a step starts on a human response, or
          // when any step starts after the run went idle waiting for it
          // (wflow re-runs the waiting step once the answer arrives).
          const input = String(env.value.input_event_name || '');
          let changed = false;
          for (const q of run.prompts) {
            if (!q.answered && (q.idleSeen || /HumanResponse/.test(input))) { q.answered = true; changed = true; }
          }
          if (changed) renderPrompts();
        } else if (env.value.step_state === 'not_running') {
          const bar = run.open.get(key);
          if (bar) {
            closeBar(bar, seq, at, live, env.value.output_event_name);
            run.open.delete(key);
          }
        }
        timelineSoon();
      }
      if (env.type === 'WorkflowIdleEvent') {
        for (const q of run.prompts) q.idleSeen = true;
      }
      if (isPrompt(env)) {
        run.prompts.push({ seq, env, answered: false, idleSeen: false });
        renderPrompts();
      }
      if (isTerminal(env)) {
        run.terminal = true;
        for (const bar of run.open.values()) closeBar(bar, seq, at, live, null, isFailure(env));
        run.open.clear();
        if (run.graph) run.graph.stopAll();
        renderPrompts();
        timelineSoon();
        refreshAll();
      }
      updateCount();
      if (live && eventsList.scrollHeight - eventsList.scrollTop - eventsList.clientHeight < 80) {
        eventsList.scrollTop = eventsList.scrollHeight;
      }
    }
    function closeBar(bar, seq, at, live, output, failed) {
      bar.endSeq = seq;
      bar.endAt = at;
      bar.endLive = live;
      bar.output = output || null;
      bar.failed = !!failed;
      if (run.graph) run.graph.stepRunning(bar.step, -1);
    }

    function setStream(state, text) {
      streamState.className = `stream-state ${state}`;
      streamState.querySelector('.txt').textContent = text;
      streamState.dataset.state = state;
    }

    async function readStream(attempt) {
      const after = run.events.length - 1; // sequences start at 0 and include_internal keeps every one
      const path = `/events/${enc(id)}?sse=false&include_internal=true&include_qualified_name=true&after_sequence=${after}`;
      setStream('live', attempt ? `reconnecting (${attempt})` : 'connecting');
      let resp;
      try {
        resp = await rawFetch('GET', path, { signal: v.signal });
      } catch (e) {
        if (e && e.name === 'AbortError') return;
        setStream('error', 'error');
        const box = errorBox(e, 'Event stream');
        if (box) { clear(eventsMsg); eventsMsg.append(box); }
        return retry(attempt);
      }
      if (resp.status === 204) {
        await resp.text();
        run.streamDone = true;
        setStream('ended', 'nothing to stream');
        if (run.events.length === 0) {
          eventsMsg.append(h('div', { class: 'note-box', 'data-testid': 'stream-empty', text: 'Nothing to stream (204 No Content): the run has finished and the server keeps no event of it after this point.' }));
        }
        timelineRender();
        return;
      }
      if (!resp.ok) {
        const body = await bodyOf(resp);
        const err = new ApiError(resp.status, detailOf(resp, body), 'GET', path);
        if (err.auth) showAuthBanner(err);
        setStream('error', `error ${resp.status}`);
        clear(eventsMsg);
        eventsMsg.append(errorBox(err, 'Event stream'));
        return;
      }
      clear(eventsMsg);
      noteAuthOk();
      setStream('live', 'live');
      run.streamOpenedAt = run.streamOpenedAt || performance.now();
      const openedAt = performance.now();
      const reader = resp.body.getReader();
      v.onLeave(() => { try { reader.cancel().catch(() => {}); } catch (_) { /* gone */ } });
      const decoder = new TextDecoder();
      let buf = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            let env;
            try { env = JSON.parse(line); } catch (e) {
              eventsMsg.append(h('div', { class: 'error-box', text: `Unreadable stream line: ${line.slice(0, 200)}` }));
              continue;
            }
            onEvent(env, performance.now() - openedAt > LIVE_AFTER_MS);
          }
        }
        buf += decoder.decode();
        if (buf.trim()) {
          try { onEvent(JSON.parse(buf.trim()), performance.now() - openedAt > LIVE_AFTER_MS); } catch (_) {
            eventsMsg.append(h('div', { class: 'error-box', text: `Unreadable stream line: ${buf.slice(0, 200)}` }));
          }
        }
      } catch (e) {
        if (!v.alive || (e && e.name === 'AbortError')) return;
        setStream('error', 'interrupted');
        const box = errorBox(e, 'Event stream interrupted');
        if (box) { clear(eventsMsg); eventsMsg.append(box); }
        return retry(attempt);
      }
      if (!v.alive) return;
      if (run.terminal) {
        run.streamDone = true;
        setStream('ended', 'ended');
        timelineRender();
        return;
      }
      // The server closed without a terminal event: look at the handler, resume if it still runs.
      try { await loadHandler(); } catch (_) { /* shown by the poller */ }
      if (run.handler && run.handler.status !== 'running') {
        run.streamDone = true;
        setStream('ended', 'ended');
        timelineRender();
        return;
      }
      return retry(attempt);
    }
    function retry(attempt) {
      const n = (attempt || 0) + 1;
      if (n > 20) { setStream('error', 'gave up'); return; }
      v.after(Math.min(1000 * n, 5000), () => guard(readStream(n)));
    }

    // ---- start
    try {
      await loadHandler();
    } catch (e) {
      setStatus('unknown');
      showError(resultBox, e, 'Could not read the run');
      if (e instanceof ApiError && e.status === 404) {
        headMsg.append(h('div', { class: 'error-box', text: `No handler ${id} on this server.` }));
        clear(stateBox);
        clear(graphCard);
        graphCard.append(h('div', { class: 'card-head' }, h('h2', { text: 'Graph' })), h('div', { class: 'graph', 'data-testid': 'graph' }, h('div', { class: 'empty', text: 'No run, no graph.' })));
        setStream('error', 'no run');
        return;
      }
    }
    const wf = run.handler && run.handler.workflow_name;
    if (wf) {
      run.graph = graphView(v, wf);
      clear(graphCard);
      graphCard.append(h('div', { class: 'card-head' }, h('h2', { text: 'Graph' }), h('span', { class: 'spacer' }), h('span', { class: 'muted small', text: 'live' })), run.graph.el, graphLegend());
      try {
        const r = await api('GET', `/workflows/${enc(wf)}/events`, { signal: v.signal });
        run.eventSchemas = (r.json && Array.isArray(r.json.events)) ? r.json.events : [];
      } catch (e) {
        run.eventSchemas = [];
        const box = errorBox(e, 'Could not read the event schemas');
        if (box) headMsg.append(box);
      }
    } else {
      clear(graphCard);
      graphCard.append(h('div', { class: 'card-head' }, h('h2', { text: 'Graph' })), h('div', { class: 'graph', 'data-testid': 'graph' }, h('div', { class: 'empty', text: 'Unknown workflow.' })));
    }
    loadState();
    guard(readStream(0));
    // While it runs, keep the times and status fresh.
    v.every(2000, async () => {
      if (run.handler && run.handler.status === 'running' && document.visibilityState === 'visible') {
        try {
          const before = run.handler.status;
          await loadHandler();
          if (before === 'running' && run.handler.status !== 'running') loadState();
        } catch (e) {
          if (e && e.name !== 'AbortError') { clear(headMsg); const b = errorBox(e, 'Could not refresh the run'); if (b) headMsg.append(b); }
        }
      }
    });
  }

  // --------------------------------------------------------------- boot

  const tokenForm = document.getElementById('token-form');
  const tokenInput = document.getElementById('token-input');
  tokenInput.value = getToken();
  tokenForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    store(TOKEN_KEY, tokenInput.value.trim());
    hideBanner();
    route();
  });
  document.getElementById('token-clear').addEventListener('click', () => {
    tokenInput.value = '';
    store(TOKEN_KEY, '');
    hideBanner();
    route();
  });
  const apiBase = document.getElementById('api-base');
  apiBase.textContent = `API: ${window.location.origin}`;

  // Fetches of a page that was left are aborted on purpose: not an error.
  window.addEventListener('unhandledrejection', (e) => {
    if (e.reason && e.reason.name === 'AbortError') e.preventDefault();
  });
  window.addEventListener('hashchange', route);
  route();
})();

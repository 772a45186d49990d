// Keel dashboard: plain JavaScript over the REST API under /api/v1, no build step.
// The map is drawn once per topology version; later updates change attributes
// of the existing elements only, so large networks (Kdl: 1,790 links) stay
// responsive.
'use strict';

(() => {
  const API = '/api/v1';
  const SVGNS = 'http://www.w3.org/2000/svg';
  const TOKEN_KEY = 'keel.token';
  const W = 1000;
  const H = 600;

  const state = {
    token: null,
    me: null,
    canNet: false,
    canOperate: false,
    topo: null,
    pos: new Map(), // site id -> [x, y]
    links: new Map(), // link id -> { el, info, view }
    selected: null,
    services: [],
    flows: new Map(), // service id -> planned flows
    stream: null,
    timers: [],
    lastLinksFetch: 0,
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs = {}, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function svg(tag, attrs = {}) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }

  function fmtRate(bps) {
    if (typeof bps === 'string') return bps;
    if (bps === null || bps === undefined || !isFinite(bps)) return '–';
    const units = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
    // Three significant digits; 999.99M (a quantised 1G) reads as 1.00 G.
    for (const [s, u] of units) if (Math.abs(bps) >= 0.9995 * s) return (bps / s).toPrecision(3) + ' ' + u + 'bit/s';
    return bps.toFixed(0) + ' bit/s';
  }

  const pct = (u) => (u === null || u === undefined ? '–' : (100 * u).toFixed(1) + '%');
  const time = (ms) => new Date(ms).toLocaleTimeString();

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, opts = {}) {
    const headers = { Authorization: 'Bearer ' + state.token };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(API + path, {
      method: opts.method || 'GET',
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    let body = null;
    try {
      body = await r.json();
    } catch (_) {
      body = null;
    }
    if (!r.ok) {
      const msg = body && body.error ? body.error.message : 'HTTP ' + r.status;
      throw new ApiError(r.status, msg);
    }
    return body;
  }

  function say(msg, error = false) {
    $('message').textContent = msg || '';
    $('message').classList.toggle('error', error);
  }

  // ---- login ---------------------------------------------------------------

  function showLogin(error) {
    $('app').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = error || '';
    $('token').focus();
  }

  async function login(token) {
    state.token = token;
    let status;
    try {
      status = await api('/status');
    } catch (e) {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin(e.status === 401 ? 'That token is not valid: ' + e.message : 'Cannot reach the controller: ' + e.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $('login').hidden = true;
    $('app').hidden = false;
    await start(status);
  }

  function logout() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    if (state.stream) state.stream.abort();
    state.timers.forEach(clearInterval);
    state.timers = [];
    location.reload();
  }

  // ---- start ---------------------------------------------------------------

  async function start(status) {
    state.me = status.you;
    state.canNet = state.me.role !== 'tenant';
    state.canOperate = state.me.role === 'operator' || state.me.role === 'admin';
    document.body.classList.toggle('tenant', !state.canNet);
    for (const e of document.querySelectorAll('.net-only')) e.hidden = !state.canNet;
    for (const e of document.querySelectorAll('.operate-only')) e.hidden = !state.canOperate;
    $('who').textContent = state.me.name + ' (' + state.me.role + (state.me.tenant ? ' of ' + state.me.tenant : '') + ')';
    await loadTopology();
    await Promise.all([refreshLinks(), refreshServices(), loadAudit()]);
    summary(status);
    streamEvents();
    // The stream says when things change; this poll catches measured
    // utilisation, which the stream reports only as a network-wide maximum.
    if (state.canNet) state.timers.push(setInterval(() => refreshLinks(), 5000));
  }

  function summary(status) {
    const t = status.topology;
    $('topology-name').textContent = t.name + ' v' + t.version + ' · ' + t.sites + ' sites · ' + t.links + ' links';
    let s = status.services + ' services';
    if (status.links_down) s += ' · ' + status.links_down.length + ' down · ' + status.links_drained.length + ' drained';
    $('summary').textContent = s;
  }

  // ---- map -----------------------------------------------------------------

  async function loadTopology() {
    const topo = await api('/topology');
    state.topo = topo;
    // Timings in the Performance timeline, for measuring large networks.
    const t0 = performance.now();
    state.pos = layout(topo);
    const t1 = performance.now();
    drawMap();
    performance.measure('keel:layout', { start: t0, end: t1 });
    performance.measure('keel:draw-map', { start: t1 });
    const srlgs = new Set();
    topo.links.forEach((l) => (l.srlgs || []).forEach((g) => srlgs.add(g)));
    state.srlgs = [...srlgs].sort();
    fillWhatifElements();
  }

  async function reloadTopology() {
    try {
      state.selected = null;
      $('link-detail').hidden = true;
      $('link-empty').hidden = false;
      await loadTopology();
      await refreshLinks();
    } catch (e) {
      handleError(e);
    }
  }

  // Deterministic pseudo-random numbers (mulberry32) so a layout computed
  // without coordinates is the same on every reload.
  function rng(seed) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function hash(s) {
    let h = 2166136261;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
    return h >>> 0;
  }

  function layout(topo) {
    const sites = topo.sites;
    const located = sites.filter((s) => s.location).length;
    // Mostly located (Topology Zoo often misses a few): place the rest among
    // their neighbours. Otherwise a force layout.
    const pts = located >= Math.max(2, 0.8 * sites.length) ? geoLayout(topo) : forceLayout(topo);
    return fit(sites, pts);
  }

  function geoLayout(topo) {
    const sites = topo.sites;
    const with_ = sites.filter((s) => s.location);
    // Equirectangular, with longitudes shrunk at the mean latitude.
    const lat0 = with_.reduce((a, s) => a + s.location.lat, 0) / with_.length;
    const k = Math.cos((lat0 * Math.PI) / 180);
    const pts = sites.map((s) => (s.location ? [s.location.lon * k, -s.location.lat] : null));
    const index = new Map(sites.map((s, i) => [s.id, i]));
    const nbrs = sites.map(() => []);
    for (const l of topo.links) {
      const a = index.get(l.src);
      const b = index.get(l.dst);
      if (a !== undefined && b !== undefined) {
        nbrs[a].push(b);
        nbrs[b].push(a);
      }
    }
    const rand = rng(hash(topo.name + ':geo'));
    const cx = pts.filter(Boolean).reduce((a, p) => a + p[0], 0) / with_.length;
    const cy = pts.filter(Boolean).reduce((a, p) => a + p[1], 0) / with_.length;
    // Unlocated sites go to the mean of their placed neighbours, a little
    // apart; a few passes reach chains of them. Jitter is seeded: stable.
    for (let pass = 0; pass < 5; pass++) {
      sites.forEach((s, i) => {
        if (s.location) return;
        const placed = nbrs[i].map((j) => pts[j]).filter(Boolean);
        if (!placed.length) return;
        const p = [
          placed.reduce((a, q) => a + q[0], 0) / placed.length + 0.3 * (rand() - 0.5),
          placed.reduce((a, q) => a + q[1], 0) / placed.length + 0.3 * (rand() - 0.5),
        ];
        pts[i] = p;
      });
    }
    return pts.map((p) => p || [cx + rand() - 0.5, cy + rand() - 0.5]);
  }

  function forceLayout(topo) {
    const n = topo.sites.length;
    const index = new Map(topo.sites.map((s, i) => [s.id, i]));
    const rand = rng(hash(topo.name + ':' + n));
    const p = topo.sites.map((_, i) => {
      const a = (2 * Math.PI * i) / Math.max(n, 1);
      return [Math.cos(a) + 0.1 * rand(), Math.sin(a) + 0.1 * rand()];
    });
    const edges = topo.links.map((l) => [index.get(l.src), index.get(l.dst)]).filter((e) => e[0] !== undefined && e[1] !== undefined);
    // Fruchterman-Reingold; iterations shrink with n^2 so large networks
    // lay out in about a second, once.
    const iters = Math.max(30, Math.min(300, Math.floor(2e7 / Math.max(1, n * n))));
    const k = Math.sqrt(4 / Math.max(n, 1));
    let temp = 0.2;
    const d = p.map(() => [0, 0]);
    for (let it = 0; it < iters; it++) {
      for (const v of d) v[0] = v[1] = 0;
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          let dx = p[i][0] - p[j][0];
          let dy = p[i][1] - p[j][1];
          const dist2 = dx * dx + dy * dy + 1e-9;
          const f = (k * k) / dist2;
          dx *= f;
          dy *= f;
          d[i][0] += dx;
          d[i][1] += dy;
          d[j][0] -= dx;
          d[j][1] -= dy;
        }
      }
      for (const [a, b] of edges) {
        const dx = p[a][0] - p[b][0];
        const dy = p[a][1] - p[b][1];
        const dist = Math.sqrt(dx * dx + dy * dy) + 1e-9;
        const f = dist / k;
        d[a][0] -= dx * f;
        d[a][1] -= dy * f;
        d[b][0] += dx * f;
        d[b][1] += dy * f;
      }
      for (let i = 0; i < n; i++) {
        const len = Math.sqrt(d[i][0] ** 2 + d[i][1] ** 2) + 1e-9;
        const s = Math.min(len, temp) / len;
        p[i][0] += d[i][0] * s;
        p[i][1] += d[i][1] * s;
      }
      temp *= 0.97;
    }
    // Turn the layout so its long axis lies along the map's width.
    const mx = p.reduce((a, q) => a + q[0], 0) / Math.max(n, 1);
    const my = p.reduce((a, q) => a + q[1], 0) / Math.max(n, 1);
    let sxx = 0;
    let syy = 0;
    let sxy = 0;
    for (const [x, y] of p) {
      sxx += (x - mx) ** 2;
      syy += (y - my) ** 2;
      sxy += (x - mx) * (y - my);
    }
    const a = -0.5 * Math.atan2(2 * sxy, sxx - syy);
    const [c, s] = [Math.cos(a), Math.sin(a)];
    return p.map(([x, y]) => [c * (x - mx) - s * (y - my), s * (x - mx) + c * (y - my)]);
  }

  function fit(sites, pts) {
    const pad = 45; // room for labels at the edges
    const xs = pts.map((q) => q[0]);
    const ys = pts.map((q) => q[1]);
    const minX = Math.min(...xs);
    const minY = Math.min(...ys);
    const spanX = Math.max(...xs) - minX || 1;
    const spanY = Math.max(...ys) - minY || 1;
    const s = Math.min((W - 2 * pad) / spanX, (H - 2 * pad) / spanY);
    const ox = (W - s * spanX) / 2;
    const oy = (H - s * spanY) / 2;
    const out = new Map();
    sites.forEach((site, i) => out.set(site.id, [ox + s * (pts[i][0] - minX), oy + s * (pts[i][1] - minY)]));
    return out;
  }

  function drawMap() {
    const map = $('map');
    map.replaceChildren();
    map.setAttribute('viewBox', `0 0 ${W} ${H}`);
    state.links.clear();
    const n = state.topo.links.length;
    const width = n > 500 ? 1.2 : 2.5;
    const gap = n > 500 ? 0.8 : 2.2;
    const bg = svg('rect', { x: 0, y: 0, width: W, height: H, fill: '#ffffff', class: 'background' });
    const gl = svg('g', { id: 'links', 'stroke-linecap': 'round' });
    const frag = document.createDocumentFragment();
    for (const l of state.topo.links) {
      const a = state.pos.get(l.src);
      const b = state.pos.get(l.dst);
      if (!a || !b) continue;
      // The two directions of a physical link side by side: each arc is
      // shifted to its right-hand side.
      const dx = b[0] - a[0];
      const dy = b[1] - a[1];
      const len = Math.hypot(dx, dy) || 1;
      const ox = (-dy / len) * gap;
      const oy = (dx / len) * gap;
      const line = svg('line', {
        x1: (a[0] - ox).toFixed(2),
        y1: (a[1] - oy).toFixed(2),
        x2: (b[0] - ox).toFixed(2),
        y2: (b[1] - oy).toFixed(2),
        'stroke-width': width,
        stroke: '#90a4ae',
        'data-link': l.id,
      });
      const title = svg('title');
      title.textContent = l.id;
      line.appendChild(title);
      frag.appendChild(line);
      state.links.set(l.id, { el: line, title, info: l, view: null });
    }
    gl.appendChild(frag);
    const gs = svg('g', { id: 'sites' });
    const labels = state.topo.sites.length <= 80;
    const r = state.topo.sites.length > 200 ? 1.8 : 4;
    for (const s of state.topo.sites) {
      const p = state.pos.get(s.id);
      const g = svg('g', { class: 'site', 'data-site': s.id });
      const c = svg('circle', { cx: p[0].toFixed(2), cy: p[1].toFixed(2), r, fill: '#263238' });
      const t = svg('title');
      t.textContent = s.name && s.name !== s.id ? s.id + ' — ' + s.name : s.id;
      c.appendChild(t);
      g.appendChild(c);
      if (labels) {
        const tx = svg('text', { x: (p[0] + 6).toFixed(2), y: (p[1] - 6).toFixed(2), 'font-size': 12, 'font-family': 'sans-serif', fill: '#263238' });
        tx.textContent = s.id;
        g.appendChild(tx);
      }
      gs.appendChild(g);
    }
    map.append(bg, gl, gs);
    gl.addEventListener('click', (e) => {
      const id = e.target.closest('[data-link]');
      if (id) selectLink(id.getAttribute('data-link'));
    });
  }

  function utilColour(u) {
    const x = Math.max(0, Math.min(1, u));
    return `hsl(${Math.round(120 * (1 - x))}, 75%, 38%)`;
  }

  // Presentation attributes (not CSS) so an exported SVG keeps its colours.
  function paintLink(id) {
    const e = state.links.get(id);
    if (!e || !e.view) return;
    const v = e.view;
    const u = v.utilisation ?? (v.capacity_bps > 0 ? v.planned_bps / v.capacity_bps : 0);
    let stroke;
    let dash = null;
    if (!v.up) {
      stroke = '#d32f2f';
      dash = '6 4';
    } else if (v.drained) {
      stroke = '#9e9e9e';
      dash = '3 3';
    } else {
      stroke = utilColour(u);
    }
    e.el.setAttribute('stroke', stroke);
    if (dash) e.el.setAttribute('stroke-dasharray', dash);
    else e.el.removeAttribute('stroke-dasharray');
    e.el.classList.toggle('down', !v.up);
    e.el.classList.toggle('drained', v.drained);
    e.title.textContent = `${id} · ${pct(u)} of ${fmtRate(v.capacity_bps)}${v.up ? '' : ' · DOWN'}${v.drained ? ' · drained' : ''}`;
  }

  async function refreshLinks() {
    if (!state.canNet) return;
    state.lastLinksFetch = Date.now();
    let views;
    try {
      views = await api('/links');
    } catch (e) {
      return handleError(e);
    }
    const t0 = performance.now();
    for (const v of views) {
      const e = state.links.get(v.id);
      if (!e) continue;
      e.view = v;
      paintLink(v.id);
    }
    performance.measure('keel:paint-links', { start: t0 });
    if (state.selected) {
      showLinkFacts(state.selected);
      // Raw samples move every few seconds; rollups only every 5 minutes.
      if ($('link-resolution').value === 'raw') loadPlot(state.selected);
    }
  }

  function linkState(id, up, drained) {
    const e = state.links.get(id);
    if (!e) return;
    e.view = Object.assign({ capacity_bps: e.info.capacity_bps, planned_bps: 0 }, e.view || {}, { up, drained });
    paintLink(id);
    if (state.selected === id) showLinkFacts(id);
  }

  // Wheel zooms around the pointer, drag pans; the view box changes, nothing is redrawn.
  function enableZoom() {
    const map = $('map');
    let vb = [0, 0, W, H];
    const apply = () => map.setAttribute('viewBox', vb.map((x) => x.toFixed(2)).join(' '));
    const toMap = (ev) => {
      const r = map.getBoundingClientRect();
      const s = Math.max(vb[2] / r.width, vb[3] / r.height);
      const cx = vb[0] + vb[2] / 2 + (ev.clientX - r.left - r.width / 2) * s;
      const cy = vb[1] + vb[3] / 2 + (ev.clientY - r.top - r.height / 2) * s;
      return [cx, cy, s];
    };
    map.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      const [cx, cy] = toMap(ev);
      const f = ev.deltaY < 0 ? 0.8 : 1.25;
      vb = [cx - (cx - vb[0]) * f, cy - (cy - vb[1]) * f, vb[2] * f, vb[3] * f];
      apply();
    }, { passive: false });
    let drag = null;
    map.addEventListener('pointerdown', (ev) => {
      if (ev.target.closest('[data-link]')) return;
      drag = { x: ev.clientX, y: ev.clientY, vb: vb.slice(), s: toMap(ev)[2] };
    });
    window.addEventListener('pointermove', (ev) => {
      if (!drag) return;
      vb = [drag.vb[0] - (ev.clientX - drag.x) * drag.s, drag.vb[1] - (ev.clientY - drag.y) * drag.s, vb[2], vb[3]];
      apply();
    });
    window.addEventListener('pointerup', () => (drag = null));
    map.addEventListener('dblclick', () => {
      vb = [0, 0, W, H];
      apply();
    });
  }

  // ---- link panel ----------------------------------------------------------

  function showTab(id) {
    for (const p of document.querySelectorAll('.panel')) p.hidden = p.id !== id;
    for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.tab === id);
  }

  async function selectLink(id) {
    if (state.selected) state.links.get(state.selected)?.el.classList.remove('selected');
    state.selected = id;
    state.links.get(id)?.el.classList.add('selected');
    showTab('link-panel');
    $('link-empty').hidden = true;
    $('link-detail').hidden = false;
    $('link-title').textContent = id;
    showLinkFacts(id);
    $('link-services').replaceChildren();
    await Promise.all([loadPlot(id), loadCrossing(id)]);
  }

  function showLinkFacts(id) {
    const e = state.links.get(id);
    if (!e) return;
    const v = e.view || {};
    const facts = [
      ['from → to', e.info.src + ' → ' + e.info.dst],
      ['capacity', fmtRate(v.capacity_bps ?? e.info.capacity_bps)],
      ['latency', e.info.latency_ms.toFixed(2) + ' ms'],
      ['SRLGs', (e.info.srlgs || []).join(', ') || '–'],
    ];
    if (e.view) {
      facts.push(['state', (v.up ? 'up' : 'DOWN') + (v.drained ? ', drained' : '')]);
      facts.push(['planned', fmtRate(v.planned_bps)]);
      facts.push(['measured', v.utilisation === null ? '–' : pct(v.utilisation) + ' (' + fmtRate(v.measured_bps) + ')']);
    }
    const dl = $('link-facts');
    dl.replaceChildren();
    for (const [k, val] of facts) dl.append(el('dt', {}, k), el('dd', {}, val));
  }

  async function loadPlot(id) {
    const plot = $('link-plot');
    if (!state.canNet) return;
    const res = $('link-resolution').value;
    let data;
    try {
      data = await api(`/links/${encodeURIComponent(id)}/utilisation?resolution=${res}&limit=2000`);
    } catch (e) {
      return handleError(e);
    }
    if (state.selected !== id) return;
    const label = `${id} · utilisation${res === 'raw' ? '' : ' · ' + res + ' average and maximum'}`;
    drawPlot(plot, data.samples, res !== 'raw', label);
    plot.setAttribute('data-plot-link', id);
  }

  function drawPlot(plot, samples, withMax, label) {
    const w = 420;
    const h = 170;
    const l = 40;
    const r = 10;
    const t = 10;
    const b = 25;
    plot.replaceChildren(svg('rect', { x: 0, y: 0, width: w, height: h, fill: '#ffffff' }));
    const axis = { stroke: '#90a4ae', 'stroke-width': 1 };
    plot.append(svg('line', { x1: l, y1: h - b, x2: w - r, y2: h - b, ...axis }), svg('line', { x1: l, y1: t, x2: l, y2: h - b, ...axis }));
    const text = (x, y, s, anchor = 'start') => {
      const e = svg('text', { x, y, 'font-size': 10, 'font-family': 'sans-serif', fill: '#455a64', 'text-anchor': anchor });
      e.textContent = s;
      plot.appendChild(e);
    };
    // The plot names its link: an exported file stands on its own.
    text(l + 6, t + 8, label);
    if (!samples.length) {
      text(w / 2, h / 2, 'no samples yet', 'middle');
      return;
    }
    const t0 = samples[0].at_ms;
    const t1 = Math.max(samples[samples.length - 1].at_ms, t0 + 1);
    const top = Math.max(1, ...samples.map((s) => (withMax ? s.utilisation_max : s.utilisation)));
    const x = (ms) => (l + ((ms - t0) / (t1 - t0)) * (w - l - r)).toFixed(1);
    const y = (u) => (h - b - (u / top) * (h - t - b)).toFixed(1);
    // 100% line: above it the link is offered more than it can carry.
    plot.appendChild(svg('line', { x1: l, y1: y(1), x2: w - r, y2: y(1), stroke: '#ef9a9a', 'stroke-dasharray': '4 3' }));
    text(l - 4, +y(1) + 3, '100%', 'end');
    text(l - 4, h - b + 3, '0%', 'end');
    text(l, h - 8, time(t0));
    text(w - r, h - 8, time(t1), 'end');
    if (withMax) {
      const pts = samples.map((s) => x(s.at_ms) + ',' + y(s.utilisation_max)).join(' ');
      plot.appendChild(svg('polyline', { points: pts, fill: 'none', stroke: '#ef6c00', 'stroke-width': 1, class: 'util-max' }));
    }
    const pts = samples.map((s) => x(s.at_ms) + ',' + y(s.utilisation)).join(' ');
    plot.appendChild(svg('polyline', { points: pts, fill: 'none', stroke: '#1565c0', 'stroke-width': 1.5, class: 'util' }));
  }

  async function loadCrossing(id) {
    let ids;
    if (state.canNet) {
      try {
        ids = (await api('/links/' + encodeURIComponent(id))).services;
      } catch (e) {
        return handleError(e);
      }
    } else {
      // A tenant cannot read link state; its own allocations say what crosses.
      ids = [...state.flows.entries()].filter(([, flows]) => flows.some((f) => f.paths.some((p) => p.links.includes(id)))).map(([sid]) => sid);
    }
    if (state.selected !== id) return;
    const ul = $('link-services');
    ul.replaceChildren();
    if (!ids.length) ul.appendChild(el('li', { class: 'muted' }, 'none'));
    for (const sid of ids) {
      const li = el('li', { 'data-service': sid }, sid);
      li.addEventListener('click', () => showService(sid));
      ul.appendChild(li);
    }
  }

  async function setDrain(id, drained) {
    try {
      await api(`/links/${encodeURIComponent(id)}/${drained ? 'drain' : 'undrain'}`, { method: 'POST' });
      say(`${id} ${drained ? 'drained' : 'undrained'}`);
    } catch (e) {
      return handleError(e);
    }
    refreshLinks();
  }

  // ---- services ------------------------------------------------------------

  async function refreshServices() {
    let list;
    try {
      list = await api('/services');
    } catch (e) {
      return handleError(e);
    }
    state.services = list;
    let flows;
    if (state.canNet) {
      // One request for all: the whole allocation is keyed by service.
      const all = await api('/allocation').catch(() => ({ services: {} }));
      flows = list.map((s) => all.services[s.id] || []);
    } else {
      flows = await Promise.all(list.map((s) => api(`/services/${encodeURIComponent(s.id)}/allocation`).then((a) => a.flows, () => [])));
    }
    state.flows = new Map(list.map((s, i) => [s.id, flows[i]]));
    const tbody = $('services').tBodies[0];
    tbody.replaceChildren();
    for (const s of list) {
      const tr = el('tr', { 'data-service': s.id });
      const lat = s.worst_latency_ms === null || s.worst_latency_ms === undefined ? '–' : s.worst_latency_ms.toFixed(1) + ' ms';
      const bound = s.latency_ms ? ' / ' + s.latency_ms + ' ms' : '';
      tr.append(
        el('td', {}, s.id + (s.name ? ' ' + s.name : '')),
        el('td', {}, s.tenant || ''),
        el('td', {}, s.class),
        el('td', {}, fmtRate(s.rate)),
        el('td', { class: 'sla-' + s.status }, s.status),
        el('td', {}, lat + bound),
      );
      tr.addEventListener('click', () => showService(s.id));
      tbody.appendChild(tr);
    }
  }

  function showService(id) {
    showTab('services-panel');
    const s = state.services.find((x) => x.id === id);
    const box = $('service-detail');
    box.replaceChildren();
    for (const e of state.links.values()) e.el.classList.remove('highlight');
    if (!s) return;
    box.appendChild(el('h3', {}, `${s.id} · ${s.kind} · ${s.status} · carried ${fmtRate(s.carried_bps)} of ${fmtRate(s.committed_bps)}`));
    for (const f of state.flows.get(id) || []) {
      box.appendChild(el('div', {}, `${f.src} → ${f.dst}: ${fmtRate(f.carried_bps)} of ${fmtRate(f.rate_bps)} (${f.class})`));
      const ul = el('ul', { class: 'paths' });
      for (const p of f.paths) {
        ul.appendChild(el('li', {}, `${p.sites.join(' → ')} · ${fmtRate(p.rate_bps)} · ${p.latency_ms.toFixed(2)} ms`));
        p.links.forEach((l) => state.links.get(l)?.el.classList.add('highlight'));
      }
      box.appendChild(ul);
    }
  }

  // ---- timeline ------------------------------------------------------------

  function addTimeline(atMs, kind, text, prepend = true) {
    const ol = $('timeline');
    const li = el('li', { 'data-kind': kind });
    li.append(el('time', {}, time(atMs)), el('span', { class: 'kind' }, kind), document.createTextNode(text));
    if (prepend) ol.prepend(li);
    else ol.appendChild(li);
    while (ol.children.length > 300) ol.lastChild.remove();
  }

  async function loadAudit() {
    if (!state.canNet) return;
    let rows;
    try {
      rows = await api('/audit?latest=true&limit=200');
    } catch (e) {
      return handleError(e);
    }
    for (const r of rows.reverse()) {
      const cause = r.detail && r.detail.cause ? ' — ' + r.detail.cause : '';
      addTimeline(r.at_ms, r.action, ` ${r.subject} by ${r.actor}${cause}`, false);
    }
  }

  // ---- events: SSE read with fetch, which can send the Authorization header ----

  async function streamEvents() {
    while (state.token) {
      const ctl = new AbortController();
      state.stream = ctl;
      try {
        const r = await fetch(API + '/events', {
          headers: { Authorization: 'Bearer ' + state.token, Accept: 'text/event-stream' },
          signal: ctl.signal,
        });
        if (!r.ok) throw new ApiError(r.status, 'event stream: HTTP ' + r.status);
        $('live').classList.remove('off');
        // Whatever happened before the stream was open was not announced on it.
        resync();
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true }).replace(/\r\n/g, '\n');
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            onSse(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
        }
      } catch (e) {
        if (ctl.signal.aborted) return;
        if (e.status === 401) return showLogin('The token is no longer valid.');
      }
      $('live').classList.add('off');
      await new Promise((res) => setTimeout(res, 2000));
    }
  }

  let servicesPending = null;

  // Reads again what events may have changed; bursts coalesce into one.
  function resync() {
    clearTimeout(servicesPending);
    servicesPending = setTimeout(() => {
      refreshServices();
      refreshLinks();
      api('/status').then((st) => {
        summary(st);
        // A new topology version: the one time the map is drawn again.
        if (st.topology.version !== state.topo.version) reloadTopology();
      }, () => {});
    }, 500);
  }

  function onSse(block) {
    let kind = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) kind = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (!data.length) return;
    let ev;
    try {
      ev = JSON.parse(data.join('\n'));
    } catch (_) {
      return;
    }
    const now = Date.now();
    switch (kind) {
      case 'link-state':
        linkState(ev.link, ev.up, ev.drained);
        addTimeline(now, 'link', ` ${ev.link} ${ev.up ? 'up' : 'DOWN'}${ev.drained ? ' (drained)' : ''}`);
        break;
      case 'allocation':
        addTimeline(now, 'allocation', ` v${ev.version}${ev.cause ? ' — ' + ev.cause : ''}${ev.changes ? ', ' + ev.changes + ' changes' : ''}`);
        resync();
        break;
      case 'audit':
        addTimeline(now, ev.action, ` ${ev.subject} by ${ev.actor}${ev.detail && ev.detail.cause ? ' — ' + ev.detail.cause : ''}`);
        break;
      case 'counters':
        $('max-util').textContent = 'max ' + pct(ev.max_utilisation);
        break;
      case 'alert':
        // Predicted congestion: the message carries the lead time.
        addTimeline(now, 'predicted', ' ' + ev.message);
        break;
      default:
        break;
    }
  }

  // ---- what-if -------------------------------------------------------------

  function fillWhatifElements() {
    const kind = $('whatif-kind').value;
    const ids = kind === 'link' ? state.topo.links.map((l) => l.id) : kind === 'node' ? state.topo.sites.map((s) => s.id) : state.srlgs;
    const dl = $('whatif-elements');
    dl.replaceChildren(...ids.slice(0, 5000).map((id) => el('option', { value: id })));
    $('whatif-drain').disabled = true;
  }

  async function runWhatif() {
    const kind = $('whatif-kind').value;
    const id = $('whatif-element').value.trim();
    const out = $('whatif-result');
    out.replaceChildren();
    if (!id) return say('Pick an element first.', true);
    out.appendChild(el('p', { class: 'muted' }, 'computing…'));
    $('whatif-drain').disabled = true;
    let r;
    try {
      r = await api('/whatif', { method: 'POST', body: { scenarios: [kind + ':' + id], top: 5 } });
    } catch (e) {
      out.replaceChildren(el('p', { class: 'error' }, e.message));
      return;
    }
    out.replaceChildren();
    const sc = r.ranking[0];
    if (!sc) {
      out.appendChild(el('p', {}, 'No scenario evaluated.'));
      return;
    }
    const dl = el('dl', { id: 'whatif-facts' });
    const rows = [
      ['scenario', sc.name],
      ['carried now', fmtRate(r.base_carried_bps)],
      ['lost, local repair', fmtRate(sc.local.lost_bps)],
      ['worst utilisation, local repair', pct(sc.local.max_utilisation) + (sc.local.max_link ? ' on ' + sc.local.max_link : '')],
    ];
    if (sc.reoptimised) {
      rows.push(['lost, re-optimised', fmtRate(sc.reoptimised.lost_bps)]);
      rows.push(['worst utilisation, re-optimised', pct(sc.reoptimised.max_utilisation) + (sc.reoptimised.max_link ? ' on ' + sc.reoptimised.max_link : '')]);
    }
    for (const [k, v] of rows) dl.append(el('dt', {}, k), el('dd', {}, v));
    out.appendChild(dl);
    out.appendChild(el('h3', {}, 'Most loaded links'));
    const ul = el('ul');
    for (const w of r.worst_links) ul.appendChild(el('li', {}, `${w.link}: ${pct(w.base)} → ${pct(w.local)}${w.reoptimised === null ? '' : ' (re-optimised ' + pct(w.reoptimised) + ')'}`));
    out.appendChild(ul);
    $('whatif-drain').disabled = kind !== 'link';
    $('whatif-drain').dataset.link = id;
  }

  // ---- export --------------------------------------------------------------

  function download(node, name) {
    const copy = node.cloneNode(true);
    copy.setAttribute('xmlns', SVGNS);
    const vb = (copy.getAttribute('viewBox') || '0 0 1000 600').split(/\s+/);
    copy.setAttribute('width', vb[2]);
    copy.setAttribute('height', vb[3]);
    const text = '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(copy);
    const url = URL.createObjectURL(new Blob([text], { type: 'image/svg+xml' }));
    const a = el('a', { href: url, download: name });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function handleError(e) {
    if (e.status === 401) return showLogin('The token is no longer valid.');
    say(e.message, true);
  }

  // ---- wiring --------------------------------------------------------------

  function wire() {
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const t = $('token').value.trim();
      if (t) login(t);
    });
    $('logout').addEventListener('click', logout);
    for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab));
    $('link-resolution').addEventListener('change', () => state.selected && loadPlot(state.selected));
    $('export-map').addEventListener('click', () => download($('map'), 'keel-map.svg'));
    $('export-plot').addEventListener('click', () => state.selected && download($('link-plot'), `keel-${state.selected.replace(/[^A-Za-z0-9_-]+/g, '_')}-utilisation.svg`));
    $('link-drain').addEventListener('click', () => state.selected && setDrain(state.selected, true));
    $('link-undrain').addEventListener('click', () => state.selected && setDrain(state.selected, false));
    $('link-whatif').addEventListener('click', () => {
      if (!state.selected) return;
      $('whatif-kind').value = 'link';
      fillWhatifElements();
      $('whatif-element').value = state.selected;
      showTab('whatif-panel');
      runWhatif();
    });
    $('whatif-kind').addEventListener('change', fillWhatifElements);
    $('whatif-run').addEventListener('click', runWhatif);
    $('whatif-drain').addEventListener('click', () => setDrain($('whatif-drain').dataset.link, true));
    enableZoom();
    showTab('link-panel');
  }

  wire();
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) login(saved);
  else showLogin();
})();

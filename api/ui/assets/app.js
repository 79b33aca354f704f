// drover dashboard: plain JavaScript, no build step, nothing loaded from
// outside the master. Every value from the cluster goes into the page as
// text (textContent), never as HTML.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  let session = null;
  let source = null;
  let selectedJob = null;
  let pinnedJob = null;
  let lastView = null;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k === 'width') e.style.width = v; // CSSOM: allowed by the CSP, a style attribute is not
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  }

  async function call(method, path, body) {
    const opts = { method, credentials: 'same-origin', headers: { 'X-Drover-UI': '1' } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(path, opts);
    let data = null;
    try { data = await r.json(); } catch (e) { /* no body */ }
    if (!r.ok) {
      const msg = data && data.error ? data.error.code + ': ' + data.error.message : 'HTTP ' + r.status;
      const err = new Error(msg);
      err.status = r.status;
      throw err;
    }
    return data;
  }

  function flash(msg) {
    const f = $('flash');
    f.textContent = msg || '';
    f.hidden = !msg;
  }

  const mib = (v) => (v >= 1024 ? (v / 1024).toFixed(1) + ' GiB' : v + ' MiB');
  const state = (s, extra) => el('span', { class: 'state s-' + s + (extra ? ' ' + extra : ''), text: s });
  function ago(t) {
    if (!t) return '';
    const s = Math.max(0, Math.round((Date.now() - Date.parse(t)) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    return new Date(t).toLocaleString();
  }

  function showLogin(msg) {
    session = null;
    if (source) { source.close(); source = null; }
    $('dashboard').hidden = true;
    $('logout').hidden = true;
    $('live').hidden = true;
    $('whoami').textContent = '';
    $('login').hidden = false;
    const e = $('login-error');
    e.textContent = msg || '';
    e.hidden = !msg;
  }

  function showDashboard(s) {
    session = s;
    $('login').hidden = true;
    $('dashboard').hidden = false;
    $('logout').hidden = false;
    $('live').hidden = false;
    $('whoami').textContent = s.user + ' (' + s.role + ')';
    connect();
  }

  function connect() {
    if (source) source.close();
    source = new EventSource('/ui/api/events');
    source.addEventListener('view', (e) => {
      lastView = JSON.parse(e.data);
      render(lastView);
      const l = $('live');
      l.textContent = 'live · ' + new Date().toLocaleTimeString();
      l.classList.remove('stale');
    });
    source.addEventListener('logout', () => showLogin('Your session ended; log in again.'));
    source.onerror = () => {
      const l = $('live');
      l.textContent = 'reconnecting…';
      l.classList.add('stale');
      if (source && source.readyState === EventSource.CLOSED) {
        // The stream was refused: the session may be over, or the master down.
        setTimeout(start, 3000);
      }
    };
  }

  function render(v) {
    const c = v.cluster;
    $('cluster-name').textContent = c ? c.name + ' · leader ' + (c.leader || 'none') + ' · ' + c.answered_by : '';
    const h = v.health;
    const b = $('health-badge');
    b.hidden = false;
    b.className = 'badge s-' + h.level;
    b.textContent = h.level;
    const sum = $('health-summary');
    sum.replaceChildren(
      el('div', { id: 'h-level' }, el('b', {}, state(h.level)), 'health'),
      el('div', {}, el('b', { text: h.masters_healthy + '/' + h.masters }), 'masters healthy'),
      el('div', {}, el('b', { text: h.nodes_online + '/' + h.nodes }), 'nodes online'),
      el('div', {}, el('b', { text: h.instances_ok + '/' + h.instances }), 'instances fine'),
      el('div', {}, el('b', { text: String(h.jobs_pending) }), 'jobs pending'));
    $('problems').replaceChildren(...(h.problems || []).map((p) => el('li', { text: p })));
    renderNodes(v.nodes);
    renderInstances(v.instances);
    more('nodes-more', v.nodes.length, v.nodes_total);
    more('instances-more', v.instances.length, v.instances_total);
    renderJobs(v.jobs);
  }

  function more(id, shown, total) {
    const p = $(id);
    p.hidden = shown >= total;
    p.textContent = 'Showing ' + shown + ' of ' + total + ': those with a problem first, then by name.';
  }

  function renderNodes(nodes) {
    $('nodes').tBodies[0].replaceChildren(...nodes.map((n) => {
      const roles = [];
      if (n.master_capable) roles.push('master-capable');
      if (n.vm_capable) roles.push('vm-capable');
      if (n.drained) roles.push('drained');
      if (n.offline) roles.push('offline');
      const r = n.resources;
      return el('tr', { id: 'node-' + n.name },
        el('td', { text: n.name }),
        el('td', {}, state(n.status)),
        el('td', { text: roles.join(', ') }),
        el('td', { text: r ? String(r.cpus) : '' }),
        el('td', { text: r ? mib(r.memory_free_mib) + ' / ' + mib(r.memory_total_mib) : '' }),
        el('td', { text: r ? mib(r.disk_free_mib) + ' / ' + mib(r.disk_total_mib) : '' }),
        el('td', { text: (n.hypervisor || '') + (n.hypervisor && !n.hypervisor_ok ? ' (failed)' : '') }),
        el('td', { class: 'muted', text: ago(n.last_seen) }));
    }));
  }

  function renderInstances(insts) {
    $('instances').tBodies[0].replaceChildren(...insts.map((i) => el('tr', { id: 'inst-' + i.name },
      el('td', { text: i.name }),
      el('td', {}, state(i.status)),
      el('td', { text: i.primary_node }),
      el('td', { text: (i.secondary_nodes || []).join(', ') }),
      el('td', { text: i.disk_template }),
      el('td', { text: (i.disks || []).map((d) => mib(d.size_mib)).join(', ') }),
      el('td', { text: String(i.vcpus) }),
      el('td', { text: mib(i.memory_mib) }),
      el('td', {}, i.redundancy ? state(i.redundancy.split(' ')[0]) : '', i.redundancy && i.redundancy.startsWith('syncing') ? ' ' + i.redundancy.slice(8) : ''))));
  }

  const active = (s) => s === 'queued' || s === 'waiting' || s === 'running' || s === 'canceling';

  function renderJobs(jobs) {
    // The job clicked last, else the newest active job, else the newest.
    if (pinnedJob !== null && jobs.some((j) => j.id === pinnedJob)) {
      selectedJob = pinnedJob;
    } else {
      const run = jobs.find((j) => active(j.state));
      selectedJob = run ? run.id : (jobs.length ? jobs[0].id : null);
    }
    $('jobs').tBodies[0].replaceChildren(...jobs.map((j) => {
      const last = j.log.length ? j.log[j.log.length - 1].message : '';
      const pct = j.ops.length ? Math.round(100 * j.ops_done / j.ops.length) : 0;
      const cell = el('td', {});
      if (session && session.can_cancel && active(j.state) && !j.cancel_requested) {
        cell.append(el('button', { class: 'cancel', type: 'button', 'data-job': String(j.id), text: 'Cancel',
          onclick: (e) => { e.stopPropagation(); cancel(j.id, e.target); } }));
      } else if (j.cancel_requested && active(j.state)) {
        cell.append(el('span', { class: 'muted', text: 'cancel requested' }));
      }
      return el('tr', { id: 'job-' + j.id, class: j.id === selectedJob ? 'selected' : '',
        onclick: () => { pinnedJob = j.id; renderJobs(lastView.jobs); } },
        el('td', { text: String(j.id) }),
        el('td', { text: j.ops.join(', ') }),
        el('td', {}, state(j.state, 'job')),
        el('td', {}, el('span', { class: 'progress', title: pct + '%' }, el('span', { width: pct + '%' })),
          ' ' + j.ops_done + '/' + j.ops.length + ' ops, ' + j.steps_done + ' steps'),
        el('td', { text: j.submitter }),
        el('td', { class: 'muted', text: ago(j.received_at) }),
        el('td', { class: 'lastlog', text: j.error ? j.error.code + ': ' + j.error.message : last }),
        cell);
    }));
    const j = jobs.find((x) => x.id === selectedJob);
    $('job-log').hidden = !j;
    if (j) {
      $('job-log-title').textContent = 'Log of job ' + j.id + ' (' + j.state + ')' +
        (j.log_total > j.log.length ? ', last ' + j.log.length + ' of ' + j.log_total + ' entries' : '');
      $('job-log-body').textContent = j.log.map((e) =>
        new Date(e.time).toLocaleTimeString() + ' ' + e.level.padEnd(7) + ' ' + e.message).join('\n');
    }
  }

  async function cancel(id, button) {
    button.disabled = true;
    button.textContent = 'Canceling…';
    try {
      await call('POST', '/ui/api/jobs/' + id + '/cancel');
      flash('');
    } catch (e) {
      flash('Cancel job ' + id + ': ' + e.message);
      button.disabled = false;
      button.textContent = 'Cancel';
    }
  }

  async function login(body) {
    try {
      showDashboard(await call('POST', '/ui/api/login', body));
    } catch (e) {
      showLogin('Login refused: ' + e.message);
    }
  }

  async function start() {
    try {
      showDashboard(await call('GET', '/ui/api/session'));
    } catch (e) {
      if (e.status === 401) showLogin('');
      else { showLogin('Cannot reach the master: ' + e.message); setTimeout(start, 5000); }
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('login-password').addEventListener('submit', (e) => {
      e.preventDefault();
      login({ user: $('login-user').value, password: $('login-pass').value });
    });
    $('login-token').addEventListener('submit', (e) => {
      e.preventDefault();
      login({ token: $('login-tok').value.trim() });
    });
    $('logout').addEventListener('click', async () => {
      try { await call('POST', '/ui/api/logout'); } catch (e) { /* gone already */ }
      showLogin('Logged out.');
    });
    start();
  });
})();

// tunnel-client admin UI. Plain script, no build step. Everything from the server is
// written with textContent (log messages are untrusted text).
"use strict";

const MAX_LINES = 5000;
const state = { lastSeq: 0, lines: [], filter: "", level: "", capacity: 2000 };

function $(id) { return document.getElementById(id); }

function set(id, text) {
  const el = $(id);
  if (el) el.textContent = text == null || text === "" ? "—" : String(text);
}

function ago(seconds) {
  if (seconds == null) return "";
  if (seconds < 60) return seconds + " s ago";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
  return Math.floor(seconds / 3600) + " h ago";
}

function when(iso) {
  return iso ? iso.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC") : "";
}

function ms(v) { return v == null ? "—" : v + " ms"; }

function row(cells, attrs) {
  const tr = document.createElement("tr");
  for (const [k, v] of Object.entries(attrs || {})) tr.setAttribute(k, v);
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = c == null ? "" : String(c);
    tr.appendChild(td);
  }
  return tr;
}

function pill(text, kind) {
  const s = document.createElement("span");
  s.className = "pill " + kind;
  s.textContent = text;
  return s;
}

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store", credentials: "same-origin" });
  if (!r.ok) throw new Error(url + ": HTTP " + r.status + " " + (await r.text()).trim());
  return r.json();
}

function renderStatus(s) {
  set("version", "v" + s.version);
  const md = s.tunnel_metadata;
  set("tunnel-name", md && md.Name ? md.Name : (s.tunnel_metadata_error ? "(tunnel name unavailable)" : ""));
  set("tunnel-id", s.control_plane_tunnel_id);

  const ready = s.readiness && s.readiness.ready;
  const badge = $("ready-badge");
  badge.textContent = ready ? "ready" : "not ready";
  badge.className = "badge " + (ready ? "ok" : "bad");
  set("readiness", ready ? "ready" : "not ready");
  $("readiness").className = "big " + (ready ? "ok" : "bad");
  $("readiness-reason").textContent = ready ? "" : (s.readiness.reason || "");

  const cp = s.control_plane || {};
  set("cp-state", cp.state);
  $("cp-state").className = "big " + ({ ok: "ok", connecting: "warn", draining: "warn" }[cp.state] || "bad");
  set("cp-last-success", cp.last_poll_success ? when(cp.last_poll_success) + " (" + ago(cp.last_poll_success_seconds_ago) + ")" : "none yet");
  set("cp-failures", cp.consecutive_poll_failures);
  set("cp-last-error", cp.last_poll_error);
  set("cp-auth", cp.auth_problem || "ok");

  const c = s.commands || {};
  set("cmd-in-flight", c.in_flight);
  set("cmd-stages", [c.queued, c.running, c.posting].join(" / "));
  set("cmd-completed", c.completed);
  set("cmd-failures", c.failures_synthesized);
  set("cmd-expired", c.deadlines_expired);

  const l = s.latency;
  set("lat-last", l ? ms(l.last_ms) : null);
  set("lat-p50", l ? ms(l.p50_ms) : null);
  set("lat-p95", l ? ms(l.p95_ms) : null);
  set("lat-max", l ? ms(l.max_ms) : null);
  set("lat-window", l ? "last " + l.window + " commands" : "no commands yet");

  const tbody = $("channels");
  tbody.replaceChildren(...(s.channels || []).map(ch => {
    const d = (ch.details || []).map(x => x.value).join(" ");
    return row([
      ch.name,
      ch.transport_kind,
      d,
      pill(ch.enabled ? "available" : "disabled", ch.enabled ? "ok" : "bad"),
      ch.reason || "",
    ], { "data-channel": ch.name });
  }));

  $("recent").replaceChildren(...(s.recent_commands || []).map(r => row([
    when(r.time), r.channel, r.method, r.resp_type + " " + r.resp_code, ms(r.latency_ms),
  ])));

  set("instance", s.client_instance_id);
  set("started", when(s.started_at) + " (up " + s.uptime_seconds + " s)");
  set("cp-url", s.control_plane_base_url);
  set("config-source", s.config_source);
  set("warnings", (s.warnings || []).length ? s.warnings.join("\n") : "none");
  if (s.log) {
    state.capacity = s.log.buffer_capacity || state.capacity;
    showLevel(s.log.level);
  }
}

async function refreshStatus() {
  try {
    renderStatus(await getJSON("/api/status"));
    $("load-error").hidden = true;
  } catch (e) {
    $("load-error").hidden = false;
    $("load-error").textContent = "Cannot reach the client: " + e.message;
  }
}

function showLevel(level) {
  state.level = level;
  for (const b of document.querySelectorAll("#level-switch button")) {
    b.classList.toggle("active", b.dataset.level === level);
    b.setAttribute("aria-pressed", String(b.dataset.level === level));
  }
}

async function setLevel(level) {
  $("level-status").textContent = "switching to " + level + "…";
  try {
    const r = await fetch("/api/log-level", {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ level }),
    });
    if (!r.ok) throw new Error((await r.text()).trim());
    const j = await r.json();
    showLevel(j.level);
    $("level-status").textContent = "level is " + j.level;
  } catch (e) {
    $("level-status").textContent = "could not switch: " + e.message;
  }
}

function matches(line) {
  if (!state.filter) return true;
  const f = state.filter.toLowerCase();
  return line.hay.includes(f);
}

function logElement(ev) {
  const div = document.createElement("div");
  div.className = "log-row lvl-" + ev.level.toLowerCase().replace(/[^a-z]/g, "");
  div.dataset.level = ev.level;
  div.dataset.seq = ev.seq;
  const t = document.createElement("span");
  t.className = "t";
  t.textContent = ev.time.replace("T", " ").replace("Z", "");
  const lv = document.createElement("span");
  lv.className = "lv";
  lv.textContent = ev.level;
  const m = document.createElement("span");
  m.className = "m";
  m.textContent = ev.message;
  div.append(t, lv, m);
  return div;
}

function applyFilter() {
  let shown = 0;
  for (const l of state.lines) {
    const ok = matches(l);
    l.el.hidden = !ok;
    if (ok) shown++;
  }
  $("log-count").textContent = shown + " of " + state.lines.length + " buffered events shown";
}

function addEvents(events) {
  const list = $("log-list");
  const frag = document.createDocumentFragment();
  let added = 0;
  for (const ev of events) {
    if (ev.seq <= state.lastSeq) continue;
    state.lastSeq = ev.seq;
    const el = logElement(ev);
    const line = { el, hay: (ev.level + " " + ev.message + " " + ((ev.attrs || {}).target || "")).toLowerCase() };
    el.hidden = !matches(line);
    state.lines.push(line);
    frag.appendChild(el);
    added++;
  }
  list.appendChild(frag);
  const cap = Math.min(MAX_LINES, Math.max(state.capacity, 1));
  while (state.lines.length > cap) state.lines.shift().el.remove();
  if (added) {
    applyFilter();
    if ($("log-follow").checked) list.scrollTop = list.scrollHeight;
  }
}

// The Logs tab follows /api/logs/stream (server-sent events); the buffer is loaded once
// first. EventSource reconnects by itself, sending the last id it saw.
let source = null;
async function followLogs() {
  if (source) return;
  source = "starting";
  try {
    addEvents((await getJSON("/api/logs?limit=5000&after=" + state.lastSeq)).events);
  } catch (e) {
    $("log-count").textContent = "Cannot load logs: " + e.message;
  }
  source = new EventSource("/api/logs/stream?after=" + state.lastSeq);
  source.addEventListener("open", () => { $("log-stream-state").textContent = "following the live log stream"; });
  source.addEventListener("log", m => {
    try { addEvents([JSON.parse(m.data)]); } catch (e) { /* a malformed event is skipped */ }
  });
  source.addEventListener("error", () => { $("log-stream-state").textContent = "log stream interrupted; reconnecting…"; });
}

function attemptRow(url, kind, status, problem) {
  return row([url, kind, status == null ? "no answer" : String(status), problem || ""]);
}

function renderOAuth(o, sys) {
  const probe = sys.main_channel_probe_status || "ok";
  set("probe-state", probe);
  $("probe-state").className = "big " + ({ ok: "ok", "auth-required": "ok", timeout: "warn", pending: "warn" }[probe] || "bad");
  $("probe-error").textContent = sys.main_channel_probe_error || "";
  let st, cls;
  if (!o.started) { st = "not run"; cls = "warn"; }
  else if (o.pending) { st = "pending"; cls = "warn"; }
  else if (o.error) { st = "failed"; cls = "bad"; }
  else if (o.disabled) { st = "not applicable"; cls = "ok"; }
  else if (o.metadata_source === "not_advertised") { st = "not advertised (no OAuth)"; cls = "ok"; }
  else if (o.metadata && o.metadata.url) { st = "found"; cls = "ok"; }
  else { st = "—"; cls = ""; }
  set("oauth-state", st);
  $("oauth-state").className = "big " + cls;
  $("oauth-error").textContent = o.error || o.disabled || "";
  $("oauth-error").className = o.error ? "reason" : "muted";
  $("oauth-fix").textContent = o.fix ? "Fix: " + o.fix : "";
  $("oauth-warning").textContent = o.auth_server_warning || "";
  const m = o.metadata || {};
  const asm = m.auth_server_metadata || {};
  const doc = asm.metadata || {};
  set("oauth-source", o.metadata_source);
  set("oauth-metadata-url", m.url ? m.url + " (HTTP " + m.status_code + ")" : null);
  set("oauth-resource", m.body && m.body.resource);
  set("oauth-as", o.selected_authorization_server);
  set("oauth-as-url", asm.selected_url);
  set("oauth-token", doc.token_endpoint);
  set("oauth-registration", doc.registration_endpoint);
  set("oauth-mode", o.auth_server_metadata_mode);
  const rows = [];
  if (!(m.attempts || []).length) {
    for (const u of o.discovery_urls || []) rows.push(attemptRow(u, "candidate", null, "not tried yet"));
  }
  for (const a of m.attempts || []) rows.push(attemptRow(a.url, a.source + (a.selected ? " (selected)" : ""), a.status_code, a.error));
  for (const a of asm.attempts || []) rows.push(attemptRow(a.url, a.document + " " + a.path_style + (a.selected ? " (selected)" : ""), a.status_code, a.error || a.warning));
  $("oauth-attempts").replaceChildren(...rows);
}

async function refreshOAuth() {
  try {
    const [o, sys] = await Promise.all([getJSON("/api/oauth"), getJSON("/api/system")]);
    renderOAuth(o, sys);
  } catch (e) {
    $("oauth-error").textContent = "Cannot load OAuth state: " + e.message;
  }
}

function showTab(name) {
  for (const b of document.querySelectorAll("nav .tab")) b.classList.toggle("active", b.dataset.tab === name);
  $("panel-overview").hidden = name !== "overview";
  $("panel-logs").hidden = name !== "logs";
  $("panel-oauth").hidden = name !== "oauth";
  if (name === "logs") followLogs();
  if (name === "oauth") refreshOAuth();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll("nav .tab")) b.addEventListener("click", () => showTab(b.dataset.tab));
  for (const b of document.querySelectorAll("#level-switch button")) b.addEventListener("click", () => setLevel(b.dataset.level));
  $("log-filter").addEventListener("input", e => { state.filter = e.target.value.trim(); applyFilter(); });
  $("bundle-minutes").addEventListener("change", e => { $("bundle-link").href = "/api/logs/export?minutes=" + e.target.value; });
  refreshStatus();
  refreshOAuth();
  followLogs();
  setInterval(refreshStatus, 2000);
  setInterval(() => { if (!$("panel-oauth").hidden) refreshOAuth(); }, 2000);
});

// ---- Network tab: routes and proxy health (/api/system proxy_health) ------------------
// Self-contained: its own tab listener, refresh loop and rendering. Proxy URLs arrive
// without credentials; everything is written with textContent.
(function () {
  function checkText(h) {
    if (h.success) return "ok " + (h.http_status_category || "") + " (" + (h.tcp_duration_ms || 0) + "+" + (h.connect_duration_ms || 0) + " ms)";
    return (h.error_phase || "?") + ": " + (h.error_reason || "?") + (h.http_status_category ? " " + h.http_status_category : "");
  }
  function healthPill(state) {
    return pill(state, state === "healthy" ? "ok" : state === "unhealthy" ? "bad" : "");
  }
  function renderNetwork(sys) {
    const items = sys.proxy_health || (sys.routes || []).map(r => ({ route: r, health_state: r.route_mode === "proxy" ? "unhealthy" : "direct" }));
    $("network-routes").replaceChildren(...items.map(h => {
      const r = h.route || {};
      const recent = (h.history || []).slice(-3).reverse().map(checkText).join("\n");
      return row([
        r.kind, r.name, r.target, r.route_mode, r.proxy_source, r.proxy_url || "—",
        healthPill(h.health_state), h.last_check ? when(h.last_check) : "—", recent || "—",
      ], { "data-route": (r.kind || "") + "/" + (r.name || ""), "data-health": h.health_state || "" });
    }));
  }
  async function refreshNetwork() {
    try {
      renderNetwork(await getJSON("/api/system"));
      $("network-error").hidden = true;
    } catch (e) {
      $("network-error").hidden = false;
      $("network-error").textContent = "Cannot load routes: " + e.message;
    }
  }
  document.addEventListener("DOMContentLoaded", () => {
    for (const b of document.querySelectorAll("nav .tab")) {
      b.addEventListener("click", () => {
        const mine = b.dataset.tab === "network";
        $("panel-network").hidden = !mine;
        if (mine) {
          for (const p of document.querySelectorAll("main > .panel")) if (p.id !== "panel-network") p.hidden = true;
          refreshNetwork();
        }
      });
    }
    setInterval(() => { if (!$("panel-network").hidden) refreshNetwork(); }, 2000);
  });
})();

// ---- Harpoon panel (issue #15): what Harpoon may reach and what it did, from
// /api/harpoon/status, /api/harpoon/targets and /api/harpoon/calls. Self-contained: its
// own tab listener shows this panel and hides it when another tab is chosen.
function renderHarpoon(st, t, c) {
  const targets = t.targets || [];
  const calls = c.calls || [];
  set("harpoon-state", st.enabled ? "enabled" : "disabled");
  $("harpoon-state").className = "big " + (st.enabled ? "ok" : "warn");
  $("harpoon-reason").textContent = st.enabled ? "" : (st.reason || "");
  set("harpoon-max-bytes", st.max_response_bytes);
  set("harpoon-max-redirects", st.max_redirects);
  set("harpoon-plaintext", st.allow_plaintext_http ? "allowed" : "https only");
  set("harpoon-capture", st.capture_payloads ? "on (bodies kept in receipts)" : "off");
  set("harpoon-target-count", targets.length);
  const routes = {};
  for (const r of st.proxy_routes || []) routes[r.name] = r;
  $("harpoon-targets").replaceChildren(...targets.map(x => {
    const r = routes[x.label];
    const route = r ? (r.route_mode === "proxy" ? "proxy " + r.proxy_url : "direct") : "";
    return row([x.label, x.url, x.description, x.source, route, x.inclusion_reason || (x.source === "config" ? "configured" : "")],
      { "data-label": x.label });
  }));
  $("harpoon-calls").replaceChildren(...calls.map(x => {
    const ok = !x.error;
    return row([when(x.timestamp), x.label, x.method, pill(ok ? "ok" : x.error, ok ? "ok" : "bad"),
      x.status ? String(x.status) : "—", ms(x.latency_ms), x.resp_bytes + " / " + x.req_bytes, x.url],
      { "data-label": x.label, "data-outcome": ok ? "ok" : "error" });
  }));
  $("harpoon-calls-empty").hidden = calls.length > 0;
}

async function refreshHarpoon() {
  try {
    const [st, t, c] = await Promise.all([
      getJSON("/api/harpoon/status"), getJSON("/api/harpoon/targets"), getJSON("/api/harpoon/calls?limit=50")]);
    renderHarpoon(st, t, c);
  } catch (e) {
    $("harpoon-reason").textContent = "Cannot load Harpoon state: " + e.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll("nav .tab")) {
    b.addEventListener("click", () => {
      const mine = b.dataset.tab === "harpoon";
      if (mine) for (const p of document.querySelectorAll("main > section.panel")) p.hidden = true;
      $("panel-harpoon").hidden = !mine;
      if (mine) refreshHarpoon();
    });
  }
  setInterval(() => { if (!$("panel-harpoon").hidden) refreshHarpoon(); }, 2000);
});

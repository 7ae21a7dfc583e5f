/* Coinpilot dashboard: the operations panel — risk escalation, the audit trail and the recent log.
 *
 * Kept apart from app.js (the overview, bots and trades) so each can change on its own. Every
 * 15 s it GETs /api/v1/escalation and /api/v1/audit (read-only) and redraws the panel. The one
 * state-changing action, approving the next escalation step, is a POST a person clicks, sent
 * with the bearer token the controls keep in sessionStorage, after a confirm(). Text from the API is only
 * ever set as textContent, never parsed as HTML.
 *
 * The "Recent log" panel (a <details>, closed at first) GETs /api/v1/logs when opened and then with
 * each 5 s poll of the dashboard (app.js's "coinpilot:polled" event), only while it stays open:
 * closed, it adds no request.
 */
"use strict";

(function () {
  const POLL_MS = 15000;
  const API = "/api/v1";
  const TOKEN_KEY = "coinpilot.apiToken";
  const AUDIT_ROWS = 15;
  const LOG_LINES = 50;
  const LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"];
  const LOG_CONTEXT = ["bot", "trade", "order", "client_order_id"];

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  async function getJson(path) {
    const r = await fetch(`${API}/${path}`, { cache: "no-store" });
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
  }

  function summary(value) {
    if (value === null || value === undefined) return "";
    const text = typeof value === "string" ? value : JSON.stringify(value);
    return text.length > 90 ? `${text.slice(0, 87)}…` : text;
  }

  function renderEscalation(box, s) {
    box.replaceChildren(el("h2", {}, "Risk escalation"));
    if (!s.escalated) {
      box.append(el("p", { class: "muted", id: "escalation-note" }, s.note));
      return;
    }
    const step = s.step;
    const cap = (v, unit) => (v === null ? "configured limit" : `${unit}${v}`);
    box.append(
      el("p", { id: "escalation-step" }, `Step ${step.number} (${step.name}) since ${s.step_since.slice(0, 16)} UTC`),
      el(
        "p",
        { class: "muted" },
        `Caps: ${cap(step.max_trade_usd, "$")} a trade, ${cap(step.max_daily_trades, "")} trades a day, ` +
          `${cap(step.max_total_exposure_usd, "$")} exposure`,
      ),
      el(
        "p",
        { id: "escalation-record" },
        `Record at this step: ${s.record.settled_trades} settled, ${s.record.failed_orders} failed, ` +
          `${s.record.drift_incidents} drift, ${s.record.breaker_trips} breaker trips`,
      ),
    );
    if (!s.next_step) {
      box.append(el("p", { class: "muted" }, "Top step: the configured limits apply."));
      return;
    }
    if (s.missing.length) {
      box.append(el("p", { id: "escalation-missing" }, `Step ${s.next_step.number} needs: ${s.missing.join("; ")}`));
    }
    const button = el("button", { type: "button", class: "btn btn-primary", id: "btn-escalation-approve" },
      `Approve step ${s.next_step.number} (${s.next_step.name})`);
    button.disabled = !s.can_approve;
    button.addEventListener("click", () => approve(s.next_step, box));
    box.append(el("div", { class: "row buttons" }, button));
  }

  async function approve(next, box) {
    const token = sessionStorage.getItem(TOKEN_KEY); // where the controls keep it (api.js)
    if (!token) {
      box.append(el("p", { class: "message" }, "Save the API token in the controls first."));
      return;
    }
    if (!window.confirm(`Raise production to step ${next.number} (${next.name})?`)) return;
    const r = await fetch(`${API}/escalation/approve`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) box.append(el("p", { class: "message" }, `Not approved: ${body.detail || r.status}`));
    refresh();
  }

  function reasonOf(e) {
    const reason = e.after !== null && e.detail && e.detail.reason;
    return reason ? ` — ${summary(String(reason))}` : "";
  }

  function renderAudit(body, items) {
    if (!items.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: "6", class: "muted" }, "No changes recorded yet.")));
      return;
    }
    body.replaceChildren(
      ...items.map((e) =>
        el(
          "tr",
          {},
          el("td", {}, e.at.slice(0, 19).replace("T", " ")),
          el("td", {}, e.actor),
          el("td", {}, e.action.replace(/_/g, " ")),
          el("td", {}, e.bot_id === null ? "" : String(e.bot_id)),
          el("td", {}, summary(e.before)),
          el("td", {}, summary(e.after === null ? e.detail : e.after) + reasonOf(e)),
        ),
      ),
    );
  }

  function logContext(line) {
    return LOG_CONTEXT.filter((k) => line[k] !== undefined && line[k] !== null)
      .map((k) => `${k.replace(/_/g, " ")} ${line[k]}`)
      .join(", ");
  }

  function renderLog(body, reply) {
    const lines = reply.lines || [];
    if (!lines.length) {
      const text = reply.note || "No log lines at this level yet.";
      body.replaceChildren(el("tr", {}, el("td", { colspan: "4", class: "muted" }, text)));
      return;
    }
    body.replaceChildren(
      ...lines
        .slice()
        .reverse() // newest first, like the audit trail
        .map((line) =>
          el(
            "tr",
            { class: `log-${String(line.level).toLowerCase()}` },
            el("td", {}, String(line.time).slice(0, 19).replace("T", " ")),
            el("td", {}, line.level),
            el("td", {}, line.message),
            el("td", {}, logContext(line)),
          ),
        ),
    );
  }

  function buildLog() {
    const level = el("select", { id: "log-level" }, ...LOG_LEVELS.map((l) => el("option", { value: l }, l)));
    level.value = "INFO";
    const body = el("tbody", { id: "log-body" });
    const table = el(
      "table",
      { class: "trades", id: "log" },
      el("thead", {}, el("tr", {}, ...["Time (UTC)", "Level", "Message", "Bot / trade"].map((h) => el("th", {}, h)))),
      body,
    );
    const status = el("p", { class: "muted", id: "log-status" });
    const panel = el(
      "details",
      { class: "card", id: "recent-log" },
      el("summary", {}, "Recent log"),
      el("div", { class: "row" }, el("label", { for: "log-level" }, "Level at least "), level),
      el("div", { class: "table-wrap" }, table),
      status,
    );
    const log = { panel, level, body, status };
    panel.addEventListener("toggle", () => {
      if (panel.open) refreshLog(log);
    });
    level.addEventListener("change", () => refreshLog(log));
    return log;
  }

  let logSeq = 0;

  async function refreshLog(log) {
    if (!log.panel.open) return; // closed: no request at all
    const seq = ++logSeq;
    try {
      const reply = await getJson(`logs?lines=${LOG_LINES}&level=${encodeURIComponent(log.level.value)}`);
      if (seq !== logSeq) return; // a newer request (e.g. another level) answers instead
      renderLog(log.body, reply);
      log.status.textContent = "";
    } catch (err) {
      if (seq === logSeq) log.status.textContent = `Could not load the log: ${err.message}`;
    }
  }

  function build(root) {
    const escalation = el("div", { class: "card", id: "escalation" }, el("h2", {}, "Risk escalation"));
    const body = el("tbody", { id: "audit-body" });
    const table = el(
      "table",
      { class: "trades", id: "audit" },
      el("thead", {}, el("tr", {}, ...["Time (UTC)", "Who", "Change", "Bot", "Before", "After"].map((h) => el("th", {}, h)))),
      body,
    );
    const audit = el(
      "div",
      { class: "card" },
      el("h2", {}, "Audit trail"),
      el("div", { class: "table-wrap" }, table),
      el("p", {}, el("a", { href: `${API}/audit.csv`, download: "coinpilot-audit.csv" }, "Export CSV")),
    );
    const log = buildLog();
    root.replaceChildren(el("h2", { class: "section-title" }, "Operations"), escalation, audit, log.panel);
    return { escalation, body, log };
  }

  let parts = null;

  async function refresh() {
    const root = document.getElementById("operations");
    if (!root) return;
    parts = parts || build(root);
    try {
      const [esc, audit] = await Promise.all([getJson("escalation"), getJson(`audit?limit=${AUDIT_ROWS}`)]);
      renderEscalation(parts.escalation, esc);
      renderAudit(parts.body, audit.items);
    } catch (err) {
      parts.escalation.append(el("p", { class: "muted" }, `Could not load: ${err.message}`));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    refresh();
    setInterval(refresh, POLL_MS);
    // With the dashboard's 5 s poll (app.js), on the overview only, and only while the panel is open.
    document.addEventListener("coinpilot:polled", () => {
      const overview = document.getElementById("view-overview");
      if (parts && !(overview && overview.hidden)) refreshLog(parts.log);
    });
  });
})();

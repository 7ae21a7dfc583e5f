/* Coinpilot dashboard: polling, connection state and the control buttons.
 *
 * Every 5 s the page GETs /api/v1/bots/status/summary (read-only) and redraws. If the API
 * cannot be reached the last data stays on screen under a banner and polling simply goes on.
 * State-changing POSTs happen only when a person clicks a control, with the bearer token
 * kept in sessionStorage (this tab only, gone when it closes; never localStorage, which any
 * later page of this origin could read for ever); dangerous ones ask confirm() first.
 */
"use strict";

(function () {
  const F = window.CoinpilotFormat;
  const R = window.CoinpilotRender;
  const POLL_MS = 5000;
  const REQUEST_TIMEOUT_MS = 4500;
  const HISTORY_RETRY_MS = 60000;
  const API = "api/v1";
  const TOKEN_KEY = "coinpilot.apiToken";

  const state = {
    data: null,
    lastOkAt: null,
    failing: false,
    requested: 0, // sequence of summary requests
    shown: 0, // sequence of the summary on screen (older answers are dropped)
    expanded: new Set(), // bot ids whose signal breakdown is open
    history: new Map(), // bot id -> {fetchedAt, evaluatedAt, scores, retryAt}
    timer: null,
  };

  const byId = (id) => document.getElementById(id);
  const els = {
    modeBadge: byId("mode-badge"),
    tradingState: byId("trading-state"),
    emergencyState: byId("emergency-state"),
    emergencyBanner: byId("emergency-banner"),
    connBanner: byId("conn-banner"),
    lastUpdated: byId("last-updated"),
    safety: byId("safety"),
    totals: byId("totals"),
    bots: byId("bots"),
    trades: byId("trades-body"),
    message: byId("action-message"),
    tokenInput: byId("token-input"),
    tokenForm: byId("token-form"),
    tokenState: byId("token-state"),
    tokenClear: byId("token-clear"),
    enableBtn: byId("btn-enable"),
    disableBtn: byId("btn-disable"),
    stopBtn: byId("btn-emergency-stop"),
    releaseBtn: byId("btn-emergency-release"),
    cancelOrders: byId("opt-cancel-orders"),
    closePositions: byId("opt-close-positions"),
  };

  async function fetchWithTimeout(url, options) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
    try {
      return await fetch(url, { cache: "no-store", ...options, signal: ctrl.signal });
    } finally {
      clearTimeout(timer);
    }
  }

  /* ---- polling ---- */

  async function refresh() {
    const seq = ++state.requested;
    let data;
    try {
      const resp = await fetchWithTimeout(`${API}/bots/status/summary`, { headers: { Accept: "application/json" } });
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      data = await resp.json();
    } catch (err) {
      if (seq >= state.shown) setConnection(false, err);
      return;
    }
    if (seq < state.shown) return;
    state.shown = seq;
    state.data = data;
    state.lastOkAt = new Date();
    setConnection(true);
    try {
      render();
    } catch (err) {
      // Unexpected data must not stop the polling; say what went wrong and keep going.
      els.connBanner.hidden = false;
      els.connBanner.textContent = `The dashboard could not display the latest data (${err.message}).`;
      console.error(err);
      return;
    }
    refreshHistories(data.bots || []);
  }

  function schedule() {
    const started = Date.now();
    refresh().finally(() => {
      state.timer = setTimeout(schedule, Math.max(0, POLL_MS - (Date.now() - started)));
    });
  }

  function setConnection(ok, err) {
    state.failing = !ok;
    document.body.classList.toggle("stale", !ok && state.data !== null);
    els.connBanner.hidden = ok;
    if (!ok) {
      const reason = err && err.name === "AbortError" ? "timed out" : (err && err.message) || "unknown error";
      const since = state.lastOkAt ? `showing data from ${F.formatTime(state.lastOkAt)}` : "no data yet";
      els.connBanner.textContent = `Cannot reach the Coinpilot API (${reason}) \u2014 ${since}. Retrying every ${POLL_MS / 1000} s\u2026`;
    }
    updateClock();
  }

  function updateClock() {
    if (!state.lastOkAt) {
      els.lastUpdated.textContent = "Waiting for data\u2026";
      return;
    }
    const ago = Math.max(0, Math.round((Date.now() - state.lastOkAt.getTime()) / 1000));
    let text = `Last updated ${F.formatTime(state.lastOkAt)} (${ago}s ago)`;
    // Replays and accelerated clocks run on market time: say so when it is far from ours.
    const serverAt = state.data && Date.parse(state.data.generated_at);
    if (serverAt && Math.abs(serverAt - state.lastOkAt.getTime()) > 120000) {
      text += ` \u00b7 bot clock ${F.formatTime(state.data.generated_at, state.lastOkAt)}`;
    }
    els.lastUpdated.textContent = text;
    els.lastUpdated.classList.toggle("stale-text", state.failing || ago > 3 * (POLL_MS / 1000));
    if (state.data && state.data.generated_at) els.lastUpdated.title = `server time ${state.data.generated_at}`;
  }

  function render() {
    const data = state.data;
    R.renderStatus(data, els);
    R.renderSafety(data, els.safety);
    R.renderTotals(data, els.totals);
    R.renderBots(data.bots, els.bots, {
      expanded: state.expanded,
      onToggle: (id, open) => (open ? state.expanded.add(id) : state.expanded.delete(id)),
      historyFor: (id) => (state.history.get(id) || {}).scores || null,
    });
    R.renderTrades(data.recent_trades, els.trades);
    updateClock();
  }

  /* ---- score history sparklines: at most one request per bot per 5 s, only when it changed ---- */

  function historyScores(payload) {
    const list = Array.isArray(payload)
      ? payload
      : (payload && (payload.items || payload.history || payload.evaluations || payload.points)) || [];
    const points = list
      .map((e) => ({ t: e.evaluated_at || e.at || null, s: typeof e.score === "number" ? e.score : null }))
      .filter((p) => p.s !== null);
    if (points.every((p) => p.t)) points.sort((a, b) => Date.parse(a.t) - Date.parse(b.t));
    return points.map((p) => p.s);
  }

  function refreshHistories(bots) {
    const now = Date.now();
    for (const bot of bots) {
      if (!bot.last_evaluated_at) continue;
      const entry = state.history.get(bot.id) || { fetchedAt: 0, evaluatedAt: null, scores: null, retryAt: 0 };
      state.history.set(bot.id, entry);
      if (now - entry.fetchedAt < POLL_MS - 250 || now < entry.retryAt) continue;
      if (entry.scores && entry.evaluatedAt === bot.last_evaluated_at) continue;
      entry.fetchedAt = now;
      const evaluatedAt = bot.last_evaluated_at;
      fetchWithTimeout(`${API}/bots/${encodeURIComponent(bot.id)}/signal-history?limit=50`, { headers: { Accept: "application/json" } })
        .then((resp) => {
          if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
          return resp.json();
        })
        .then((payload) => {
          entry.scores = historyScores(payload);
          entry.evaluatedAt = evaluatedAt;
          const card = els.bots.querySelector(`article[data-bot-id="${CSS.escape(String(bot.id))}"] .spark`);
          const current = (state.data.bots || []).find((b) => b.id === bot.id) || bot;
          if (card) card.replaceWith(R.sparkline(entry.scores, current));
        })
        .catch(() => {
          entry.retryAt = Date.now() + HISTORY_RETRY_MS;
        });
    }
  }

  /* ---- controls ---- */

  function showMessage(text, kind) {
    els.message.textContent = text;
    els.message.className = `message message-${kind}`;
    els.message.hidden = false;
  }

  async function errorDetail(resp) {
    try {
      const body = await resp.json();
      const d = body && body.detail;
      if (typeof d === "string") return d;
      if (Array.isArray(d)) return d.map((x) => x.msg || JSON.stringify(x)).join("; ");
      return d ? JSON.stringify(d) : "";
    } catch (_err) {
      return "";
    }
  }

  function setBusy(busy) {
    document.body.classList.toggle("busy", busy);
    for (const btn of document.querySelectorAll("button[data-control], button[data-bot-action]")) {
      if (busy) btn.setAttribute("aria-busy", "true");
      else btn.removeAttribute("aria-busy");
    }
  }

  async function control(label, path, body) {
    const token = sessionStorage.getItem(TOKEN_KEY) || "";
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    showMessage(`${label}\u2026`, "info");
    setBusy(true);
    try {
      const resp = await fetchWithTimeout(`${API}${path}`, {
        method: "POST",
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (resp.status === 401 || resp.status === 403) {
        const detail = await errorDetail(resp);
        showMessage(
          `${label} refused (${resp.status} ${resp.status === 401 ? "Unauthorized" : "Forbidden"}): ` +
            `${token ? "the API token was not accepted" : "no API token set"}. Enter the token under Controls.` +
            (detail ? ` Server said: ${detail}` : ""),
          "error",
        );
        return;
      }
      if (!resp.ok) {
        const detail = await errorDetail(resp);
        showMessage(`${label} failed (HTTP ${resp.status})${detail ? `: ${detail}` : ""}`, "error");
        return;
      }
      showMessage(`${label}: done.`, "ok");
      refresh();
    } catch (err) {
      showMessage(`${label} failed: the API is unreachable (${err.name === "AbortError" ? "timed out" : err.message}).`, "error");
    } finally {
      setBusy(false);
    }
  }

  const isProduction = () => Boolean(state.data && String(state.data.mode).toLowerCase() === "production");

  function onEnable() {
    const warning = isProduction()
      ? "Enable trading in PRODUCTION mode?\nRunning bots will place REAL orders with REAL money."
      : "Enable trading?\nRunning bots will place (mock) orders.";
    if (window.confirm(warning)) control("Enable trading", "/trading/enable");
  }

  function onEmergencyStop() {
    const reason = window.prompt("Emergency stop: reason (shown on the dashboard and in the audit log)", "manual stop from dashboard");
    if (reason === null) return;
    const closePositions = els.closePositions.checked;
    if (closePositions && !window.confirm("Also CLOSE ALL POSITIONS with market sell orders?")) return;
    control("Emergency stop", "/safety/emergency-stop", {
      reason: reason.trim() || "manual stop from dashboard",
      cancel_open_orders: els.cancelOrders.checked,
      close_positions: closePositions,
    });
  }

  function onRelease() {
    if (window.confirm("Release the emergency stop?\nTrading stays as enabled/disabled; bots may trade again.")) {
      control("Release emergency stop", "/safety/emergency-release");
    }
  }

  function onBotAction(event) {
    const btn = event.target.closest("button[data-bot-action]");
    if (!btn) return;
    const id = btn.dataset.botId;
    const bot = ((state.data && state.data.bots) || []).find((b) => String(b.id) === id);
    const name = bot ? bot.name : `#${id}`;
    if (btn.dataset.botAction === "start") {
      const extra = isProduction() ? "\nPRODUCTION mode: it may place REAL orders." : "";
      if (!window.confirm(`Start bot ${name}?${extra}`)) return;
      control(`Start ${name}`, `/bots/${encodeURIComponent(id)}/start`);
    } else {
      control(`Stop ${name}`, `/bots/${encodeURIComponent(id)}/stop`);
    }
  }

  function showTokenState() {
    const has = Boolean(sessionStorage.getItem(TOKEN_KEY));
    els.tokenState.textContent = has ? "Token kept for this tab" : "No token: controls will be refused";
    els.tokenState.className = has ? "muted" : "warn-text";
    els.tokenClear.disabled = !has;
  }

  function init() {
    localStorage.removeItem(TOKEN_KEY); // a token an older version left there
    els.tokenForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = els.tokenInput.value.trim();
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      els.tokenInput.value = "";
      showTokenState();
    });
    els.tokenClear.addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      showTokenState();
    });
    els.enableBtn.addEventListener("click", onEnable);
    els.disableBtn.addEventListener("click", () => control("Disable trading", "/trading/disable"));
    els.stopBtn.addEventListener("click", onEmergencyStop);
    els.releaseBtn.addEventListener("click", onRelease);
    els.bots.addEventListener("click", onBotAction);
    showTokenState();
    setInterval(updateClock, 1000);
    schedule();
  }

  init();
})();

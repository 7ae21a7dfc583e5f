/* Coinpilot dashboard: routing, polling, connection state and the controls.
 *
 * Three views in one page: the overview (/), a bot (/bots/{id}) and a trade (/trades/{id}); links
 * are deep-linkable (the server serves this page at those paths). Every 5 s the current view
 * makes ONE read-only request (the overview: /api/v1/bots/status/summary; a bot: its page data,
 * plus its candles at most every 30 s). If the API cannot be reached the last data stays on
 * screen under a banner and polling goes on. POSTs happen only when a person clicks a control,
 * with the bearer token (sessionStorage, checked by the server before it is kept); dangerous
 * ones ask confirm() first.
 */
"use strict";

(function () {
  const F = window.CoinpilotFormat;
  const A = window.CoinpilotApi;
  const R = window.CoinpilotRender;
  const T = window.CoinpilotBotsTable;
  const B = window.CoinpilotBotPage;
  const P = window.CoinpilotTradePage;
  const C = window.CoinpilotChart;
  const POLL_MS = 5000;
  const CANDLES_MS = 30000;

  const state = {
    route: { view: "overview" },
    data: null, // the last overview summary (header, controls)
    page: null, // the last bot or trade page data
    lastOkAt: null,
    failing: false,
    requested: 0,
    shown: 0,
    sort: { key: "name", dir: "asc" },
    products: {},
    chart: null, // {chart, plugin, box, botId, candlesAt, tradeKey}
    candles: null,
    timer: null,
  };

  const byId = (id) => document.getElementById(id);
  const els = {
    modeBadge: byId("mode-badge"),
    modeNote: byId("mode-note"),
    tradingState: byId("trading-state"),
    tradingReason: byId("trading-reason"),
    emergencyState: byId("emergency-state"),
    emergencyBanner: byId("emergency-banner"),
    connBanner: byId("conn-banner"),
    lastUpdated: byId("last-updated"),
    overview: byId("view-overview"),
    page: byId("view-page"),
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

  /* ---- routing ---- */

  function parseRoute(pathname) {
    let m = /^\/bots\/(\d+)\/?$/.exec(pathname);
    if (m) return { view: "bot", id: Number(m[1]) };
    m = /^\/trades\/(\d+)\/?$/.exec(pathname);
    if (m) return { view: "trade", id: Number(m[1]) };
    return { view: "overview" };
  }

  function go(path, push) {
    if (push) history.pushState(null, "", path);
    state.route = parseRoute(location.pathname);
    state.page = null;
    if (state.chart && state.route.view !== "bot") {
      state.chart.chart.remove();
      state.chart = null;
    }
    els.overview.hidden = state.route.view !== "overview";
    els.page.hidden = state.route.view === "overview";
    if (state.route.view !== "overview") els.page.replaceChildren(document.createTextNode("Loading\u2026"));
    document.title = state.route.view === "overview" ? "Coinpilot dashboard" : `Coinpilot \u2014 ${state.route.view} #${state.route.id}`;
    clearTimeout(state.timer);
    schedule();
  }

  function onLinkClick(event) {
    const a = event.target.closest("a[data-route]");
    if (!a || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    go(a.getAttribute("href"), true);
    window.scrollTo(0, 0);
  }

  /* ---- polling ---- */

  async function load(route) {
    if (route.view === "bot") return { page: await A.getJson(`/bots/${route.id}/page`) };
    if (route.view === "trade") return { page: await A.getJson(`/trades/${route.id}/page`) };
    // The shared overview says in its headers how old it is (shown beside "Last updated").
    const resp = await A.fetchWithTimeout(`${A.API}/bots/status/summary`, { headers: { Accept: "application/json" } });
    if (!resp.ok) {
      const err = new Error(`HTTP ${resp.status}`);
      err.status = resp.status;
      throw err;
    }
    const summary = await resp.json();
    const age = resp.headers.get("X-Answer-Age-Seconds");
    summary.answer_age_seconds = age === null ? null : Number(age);
    summary.answer_stale = resp.headers.get("X-Answer-Stale") === "true";
    return { summary };
  }

  async function refresh() {
    const seq = ++state.requested;
    const route = state.route;
    let got;
    try {
      got = await load(route);
    } catch (err) {
      if (seq < state.shown || route !== state.route) return;
      if (err.status === 404) {
        state.shown = seq;
        setConnection(true);
        els.page.replaceChildren(document.createTextNode(`Not found: ${route.view} #${route.id}.`));
        return;
      }
      setConnection(false, err);
      return;
    }
    if (seq < state.shown || route !== state.route) return;
    state.shown = seq;
    state.lastOkAt = new Date();
    setConnection(true);
    try {
      if (got.summary) {
        state.data = got.summary;
        renderOverview();
      } else {
        state.page = got.page;
        if (got.page.trading) R.renderStatus({ mode: got.page.mode, trading: got.page.trading }, els);
        if (route.view === "bot") await renderBot(route);
        else P.renderTradePage(state.page, els.page, { products: state.products });
      }
    } catch (err) {
      els.connBanner.hidden = false;
      els.connBanner.textContent = `The dashboard could not display the latest data (${err.message}).`;
      console.error(err);
    }
    updateClock();
  }

  function schedule() {
    const started = Date.now();
    refresh().finally(() => {
      document.dispatchEvent(new Event("coinpilot:polled")); // operations.js refreshes its open log panel
      clearTimeout(state.timer);
      state.timer = setTimeout(schedule, Math.max(0, POLL_MS - (Date.now() - started)));
    });
  }

  function setConnection(ok, err) {
    state.failing = !ok;
    document.body.classList.toggle("stale", !ok && (state.data !== null || state.page !== null));
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
    const src = state.route.view === "overview" ? state.data : state.page;
    // The overview is shared between dashboards: say how old the server's answer was when sent.
    if (src && typeof src.answer_age_seconds === "number") {
      text += ` \u00b7 answer ${src.answer_age_seconds.toFixed(1)} s old${src.answer_stale ? " (server busy: stale)" : ""}`;
    }
    const serverAt = src && Date.parse(src.generated_at);
    if (serverAt && Math.abs(serverAt - state.lastOkAt.getTime()) > 120000) {
      text += ` \u00b7 bot clock ${F.formatTime(src.generated_at, state.lastOkAt)}`;
    }
    els.lastUpdated.textContent = text;
    els.lastUpdated.classList.toggle("stale-text", state.failing || ago > 3 * (POLL_MS / 1000) || Boolean(src && src.answer_stale));
  }

  function renderOverview() {
    const data = state.data;
    R.renderStatus(data, els);
    R.renderSafety(data, els.safety);
    R.renderTotals(data, els.totals);
    T.renderBots(data.bots, els.bots, { sort: state.sort, products: state.products });
    R.renderTrades(data.recent_trades, els.trades, state.products);
  }

  async function renderBot(route) {
    const page = state.page;
    const box = B.renderBotPage(page, els.page, { products: state.products });
    const tradeKey = (page.trades || []).map((t) => t.id).join(",");
    const now = Date.now();
    const sameBot = state.chart && state.chart.botId === route.id;
    if (sameBot && now - state.chart.candlesAt < CANDLES_MS && state.chart.tradeKey === tradeKey) {
      box.replaceWith(state.chart.box); // keep the drawn chart (zoom, scroll) across refreshes
      byId("chart-note").textContent = state.chart.note;
      return;
    }
    let candles = state.candles && sameBot && now - state.chart.candlesAt < CANDLES_MS ? state.candles : null;
    if (!candles) {
      try {
        const q = new URLSearchParams({ granularity: page.bot.granularity, limit: "300" });
        candles = (await A.getJson(`/market/candles/${encodeURIComponent(page.bot.pair)}?${q}`)).candles;
      } catch (err) {
        byId("chart-note").textContent = `Candles unavailable (${err.message}).`;
        return;
      }
    }
    if (route !== state.route) return;
    const drawn = C.drawBotChart(box, state.chart, candles, page);
    const note = `${candles.length} candles \u00b7 ${drawn.shown} trade marker${drawn.shown === 1 ? "" : "s"}` + (drawn.outside ? ` \u00b7 ${drawn.outside} older trade(s) before the chart` : "");
    byId("chart-note").textContent = note;
    const fetchedAt = sameBot && candles === state.candles ? state.chart.candlesAt : now;
    state.candles = candles;
    state.chart = { ...drawn, box, botId: route.id, candlesAt: fetchedAt, tradeKey, note };
  }

  /* ---- controls ---- */

  function showMessage(text, kind) {
    els.message.textContent = text;
    els.message.className = `message message-${kind}`;
    els.message.hidden = false;
  }

  async function control(label, path, body) {
    const token = A.token.get();
    showMessage(`${label}\u2026`, "info");
    document.body.classList.add("busy");
    try {
      const resp = await A.post(path, body);
      if (resp.status === 401 || resp.status === 403) {
        const detail = await A.errorDetail(resp);
        showMessage(
          `${label} refused (${resp.status} ${resp.status === 401 ? "Unauthorized" : "Forbidden"}): ` +
            `${token ? "the API token was not accepted" : "no API token set"}. Enter the token under Controls.` +
            (detail ? ` Server said: ${detail}` : ""),
          "error",
        );
        return false;
      }
      if (!resp.ok) {
        const detail = await A.errorDetail(resp);
        showMessage(`${label} failed (HTTP ${resp.status})${detail ? `: ${detail}` : ""}`, "error");
        return false;
      }
      showMessage(`${label}: done.`, "ok");
      clearTimeout(state.timer);
      schedule();
      return true;
    } catch (err) {
      showMessage(`${label} failed: the API is unreachable (${err.name === "AbortError" ? "timed out" : err.message}).`, "error");
      return false;
    } finally {
      document.body.classList.remove("busy");
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
    if (window.confirm("Release the halt?\nTrading becomes REDUCING: stop-losses and exits run again, no buys until you enable trading.")) {
      control("Release emergency stop", "/safety/emergency-release");
    }
  }

  function botName(id) {
    const bots = (state.data && state.data.bots) || [];
    const bot = bots.find((b) => String(b.id) === String(id));
    if (bot) return bot.name;
    return state.page && state.page.bot && String(state.page.bot.id) === String(id) ? state.page.bot.name : `#${id}`;
  }

  function startBot(id) {
    const extra = isProduction() ? "\nPRODUCTION mode: it may place REAL orders." : "";
    if (window.confirm(`Start bot ${botName(id)}?\nIt evaluates again and may trade while trading is enabled.${extra}`)) {
      control(`Start ${botName(id)}`, `/bots/${encodeURIComponent(id)}/start`);
    }
  }

  function onTableClick(event) {
    const sortBtn = event.target.closest("button[data-sort-key]");
    if (sortBtn) {
      const key = sortBtn.dataset.sortKey;
      state.sort = { key, dir: state.sort.key === key && state.sort.dir === "asc" ? "desc" : "asc" };
      renderOverview();
      const again = els.bots.querySelector(`button[data-sort-key="${CSS.escape(key)}"]`);
      if (again) again.focus();
      return;
    }
    const btn = event.target.closest("button[data-bot-action]");
    if (!btn) return;
    const id = btn.dataset.botId;
    if (btn.dataset.botAction === "start") startBot(id);
    else control(`Stop ${botName(id)}`, `/bots/${encodeURIComponent(id)}/stop`);
  }

  async function onPageAction(event) {
    const more = event.target.closest("button[data-page-more]");
    if (more && state.page && state.page.bot) {
      const kind = more.dataset.pageMore;
      more.disabled = true;
      try {
        await B.loadOlder(state.page, kind);
      } catch (err) {
        showMessage(`Could not load older ${kind} (${err.message}).`, "error");
        more.disabled = false;
        return;
      }
      await renderBot(state.route);
      const again = byId(`older-${kind}`);
      if (again) again.focus(); // keyboard users keep their place
      return;
    }
    const btn = event.target.closest("button[data-page-action]");
    if (!btn || !state.page || !state.page.bot) return;
    const bot = state.page.bot;
    const action = btn.dataset.pageAction;
    if (action === "start") startBot(bot.id);
    else if (action === "pause") {
      const reason = window.prompt(`Pause ${bot.name}? No new entries; stop-loss, trailing stop and take-profit keep running.\nReason (recorded in the audit log):`, "");
      if (reason === null) return;
      control(`Pause ${bot.name}`, `/bots/${bot.id}/pause`, { reason: reason.trim() });
    } else if (action === "stop") control(`Stop ${bot.name}`, `/bots/${bot.id}/stop`);
    else if (action === "stop-close") {
      const size = state.page.position && state.page.position.base_size;
      if (!window.confirm(`Stop ${bot.name} and SELL its whole position (${F.formatSize(size)}) at market?`)) return;
      if (await control(`Stop ${bot.name}`, `/bots/${bot.id}/stop`)) {
        control(`Close ${bot.name}'s position`, "/trades/execute", { bot_id: bot.id, side: "sell", base_size: String(size) });
      }
    }
  }

  function showTokenState(text, kind) {
    const has = Boolean(A.token.get());
    els.tokenState.textContent = text || (has ? "Token checked and kept for this tab" : "No token: controls will be refused");
    els.tokenState.className = kind || (has ? "muted" : "warn-text");
    els.tokenClear.disabled = !has;
  }

  async function onTokenSubmit(event) {
    event.preventDefault();
    const value = els.tokenInput.value.trim();
    if (!value) return;
    showTokenState("Checking the token\u2026", "muted");
    let ok = false;
    try {
      ok = await A.checkToken(value);
    } catch (err) {
      showTokenState(`Could not check the token (${err.message}); not saved.`, "warn-text");
      return;
    }
    if (ok) {
      A.token.set(value);
      els.tokenInput.value = "";
      showTokenState();
    } else {
      showTokenState("The server refused this token; not saved.", "warn-text");
    }
  }

  async function init() {
    els.tokenForm.addEventListener("submit", onTokenSubmit);
    els.tokenClear.addEventListener("click", () => {
      A.token.clear();
      showTokenState();
    });
    els.enableBtn.addEventListener("click", onEnable);
    els.disableBtn.addEventListener("click", () => control("Halt trading", "/trading/disable"));
    els.stopBtn.addEventListener("click", onEmergencyStop);
    els.releaseBtn.addEventListener("click", onRelease);
    els.bots.addEventListener("click", onTableClick);
    els.page.addEventListener("click", onPageAction);
    document.addEventListener("click", onLinkClick);
    window.addEventListener("popstate", () => go(location.pathname, false));
    showTokenState();
    setInterval(updateClock, 1000);
    A.productIncrements().then((p) => {
      state.products = p || {};
    });
    go(location.pathname, false);
  }

  init();
})();

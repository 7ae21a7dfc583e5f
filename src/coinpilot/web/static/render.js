/* Coinpilot dashboard: the overview's header, safety, totals and recent trades (pure view code:
 * no fetching, no timers; app.js owns the data flow). The bots table is in bots_table.js. */
"use strict";

(function (global) {
  const F = global.CoinpilotFormat;
  const D = global.CoinpilotDom;
  const { h, pnl, meter, field, level, usd } = D;
  const DASH = F.DASH;

  /** The trading state in words: ACTIVE / REDUCING / HALTED (HALTED when unknown). */
  function tradingWords(t) {
    const state = String(t.trading_state || t.state || "HALTED").toUpperCase();
    const cls = state === "ACTIVE" ? "pill-on" : state === "REDUCING" ? "pill-warn" : "pill-danger";
    return { text: `Trading ${state}`, cls };
  }

  function renderStatus(data, els) {
    const mode = String(data.mode || "unknown").toLowerCase();
    els.modeBadge.textContent = mode === "production" ? "PRODUCTION" : mode.toUpperCase();
    els.modeBadge.className = `badge mode-${mode}`;
    els.modeBadge.title = mode === "production" ? "Real orders with real money" : "Simulated orders (paper money)";
    els.modeNote.textContent = mode === "production" ? "real money" : mode === "mock" ? "paper money" : "";
    document.body.classList.toggle("production", mode === "production");

    const t = data.trading || {};
    const words = tradingWords(t);
    const state = String(t.trading_state || t.state || "HALTED").toUpperCase();
    const reason = t.trading_state_reason || t.reason || "";
    els.tradingState.textContent = words.text;
    els.tradingState.className = `pill pill-big ${words.cls}`;
    els.tradingState.title = {
      ACTIVE: "Everything within the limits",
      REDUCING: "Only sells that reduce risk (stops, take-profit, exits); no buys",
      HALTED: "Nothing is sent but a person's emergency close",
    }[state] || "";
    els.tradingReason.textContent = reason;
    els.emergencyState.textContent = state === "HALTED" ? "HALTED" : state === "REDUCING" ? "Exits only" : "No halt";
    els.emergencyState.className = `pill ${state === "ACTIVE" ? "pill-quiet" : words.cls}`;

    // A fresh install is HALTED "not enabled yet": said by the pill, no alarm banner.
    const neverEnabled = state === "HALTED" && (t.by === "install" || t.by === "migration");
    els.emergencyBanner.hidden = state === "ACTIVE" || neverEnabled;
    if (!els.emergencyBanner.hidden) {
      els.emergencyBanner.replaceChildren(
        h("strong", {}, `Trading ${state}`),
        ` \u2014 ${reason || "no reason given"}`,
        t.by ? ` (by ${t.by}` : "",
        t.by && t.since ? `, since ${F.formatTime(t.since)})` : t.by ? ")" : "",
        state === "REDUCING"
          ? ". Only risk-reducing sells are sent (stop-losses keep working); no buys until a person enables trading."
          : ". Nothing is sent but a person's emergency close; release gives exits only.",
      );
    }
    // What each state allows: after a person's halt the main action is releasing it (to
    // exits only); enabling comes after that, so a halt is never undone by one click.
    const halted = state === "HALTED" && !neverEnabled;
    els.enableBtn.disabled = state === "ACTIVE" || halted;
    els.enableBtn.title = halted ? "Release the halt first (exits only), then enable" : "";
    els.enableBtn.className = `btn ${halted ? "" : "btn-primary"}`;
    els.disableBtn.disabled = state === "HALTED";
    els.stopBtn.disabled = false;
    els.releaseBtn.disabled = !halted;
    els.releaseBtn.className = `btn ${halted ? "btn-primary" : ""}`;
  }

  function renderSafety(data, el) {
    const s = data.safety || {};
    const trades = Number(s.trades_today || 0);
    const maxTrades = Number(s.max_daily_trades || 0);
    const tradeFrac = maxTrades > 0 ? trades / maxTrades : 0;
    const r = F.ratio(s.realized_pnl_today, s.daily_loss_limit_usd);
    const lossFrac = r === null ? 0 : Math.max(0, -r);
    const u = F.ratio(s.unrealized_pnl, s.daily_loss_limit_usd);
    const openLossFrac = u === null ? 0 : Math.max(0, -u);
    const e = F.ratio(s.exposure, s.max_total_exposure_usd);
    const expFrac = e === null ? 0 : Math.max(0, e);
    el.replaceChildren(
      h("h2", {}, "Safety today"),
      h(
        "dl",
        { class: "fields" },
        field("Trades", h("span", { class: "num", id: "trades-today" }, `${trades} / ${maxTrades || DASH}`)),
        field("", meter(tradeFrac, level(tradeFrac), "Trades used today")),
        field(
          "Realised P&L",
          pnl(s.realized_pnl_today),
          h("span", { class: "muted" }, ` of \u2212${F.formatMoney(s.daily_loss_limit_usd)} loss limit`),
        ),
        field("", meter(lossFrac, level(lossFrac), "Daily loss limit used")),
        s.unrealized_pnl !== undefined
          ? field("Unrealised", pnl(s.unrealized_pnl), h("span", { class: "muted" }, " open, against the same limit"))
          : null,
        s.unrealized_pnl !== undefined ? field("", meter(openLossFrac, level(openLossFrac), "Open loss against the daily limit")) : null,
        s.exposure !== undefined
          ? field("Exposure", usd(s.exposure), h("span", { class: "muted" }, ` of ${F.formatUsd(s.max_total_exposure_usd)} cap`))
          : null,
        s.exposure !== undefined ? field("", meter(expFrac, level(expFrac), "Exposure against its cap")) : null,
        field("Max per trade", usd(s.max_trade_usd)),
      ),
    );
  }

  function renderTotals(data, el) {
    const t = data.totals || {};
    const wallet = data.paper_wallet;
    el.replaceChildren(
      h("h2", {}, "Portfolio"),
      h(
        "dl",
        { class: "fields" },
        t.portfolio_value !== undefined ? field("Value", h("strong", {}, usd(t.portfolio_value))) : null,
        field("Bots", h("span", { class: "num" }, `${t.running ?? DASH} running of ${t.bots ?? DASH}`)),
        field("Realised P&L", pnl(t.realized_pnl)),
        field("Unrealised P&L", pnl(t.unrealized_pnl)),
        field("Exposure", usd(t.exposure)),
        wallet && Object.keys(wallet).length
          ? field(
              "Paper wallet",
              h(
                "span",
                { class: "wallet" },
                Object.entries(wallet).map(([cur, amount]) =>
                  h("span", { class: "num wallet-item" }, cur === "USD" ? F.formatUsd(amount) : `${F.formatSize(amount)} ${cur}`),
                ),
              ),
            )
          : null,
      ),
      h("p", { class: "muted small" }, String(data.mode).toLowerCase() === "production" ? "Production figures only." : "Mock (paper) figures only; never added to production."),
    );
  }

  function tradeSize(t, inc) {
    if (F.signOf(t.filled_base_size) > 0) return F.formatSizeAt(t.filled_base_size, inc && inc.base_increment);
    if (t.requested_base_size) return `${F.formatSizeAt(t.requested_base_size, inc && inc.base_increment)} req.`;
    if (t.requested_quote_size) return `${F.formatUsd(t.requested_quote_size)} req.`;
    return DASH;
  }

  function tradeRow(t, products, withBot) {
    const inc = (products || {})[t.pair];
    const filled = F.signOf(t.filled_base_size) > 0;
    const mode = String(t.mode || "").toLowerCase();
    return h(
      "tr",
      { class: mode === "production" ? "row-production" : "", dataset: { tradeId: String(t.id) } },
      h("td", { title: t.created_at || null }, D.link(`/trades/${t.id}`, `#${t.id} `), F.formatTime(t.created_at)),
      withBot ? h("td", {}, D.link(`/bots/${t.bot_id}`, t.bot_name || `#${t.bot_id}`), h("span", { class: "muted" }, ` ${t.pair || ""}`)) : null,
      h("td", { class: `side side-${t.side}` }, String(t.side || DASH).toUpperCase()),
      h("td", {}, t.intent || DASH),
      h(
        "td",
        { title: t.failure_reason || null },
        h("span", { class: `status status-${String(t.status).toLowerCase()}` }, t.status || DASH),
        t.failure_reason ? h("div", { class: "failure muted" }, t.failure_reason) : null,
      ),
      h("td", { class: "num" }, tradeSize(t, inc)),
      h("td", { class: "num" }, t.average_fill_price ? F.formatPriceAt(t.average_fill_price, inc && inc.quote_increment) : DASH),
      h("td", { class: "num" }, filled ? F.formatUsd(t.filled_value) : DASH),
      h("td", { class: "num" }, t.fees === null || t.fees === undefined ? DASH : F.formatUsd(t.fees)),
      h("td", { class: "num" }, t.realized_pnl === null || t.realized_pnl === undefined ? DASH : pnl(t.realized_pnl)),
      h("td", {}, h("span", { class: `badge badge-small mode-${mode}` }, mode.toUpperCase() || DASH)),
    );
  }

  function renderTrades(trades, el, products) {
    if (!trades || !trades.length) {
      el.replaceChildren(h("tr", {}, h("td", { colspan: 11, class: "empty muted" }, "No trades yet.")));
      return;
    }
    el.replaceChildren(...trades.map((t) => tradeRow(t, products, true)));
  }

  global.CoinpilotRender = { renderStatus, renderSafety, renderTotals, renderTrades, tradeRow };
})(window);

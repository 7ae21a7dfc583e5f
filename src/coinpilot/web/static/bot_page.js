/* Coinpilot dashboard: the bot page (/bots/{id}): controls with their consequences, today's
 * safety usage, the chart, signals and evaluation history, position and tranches, trades with
 * fills and fees, and the bot's safety decisions. Pure view code; app.js fetches. */
"use strict";

(function (global) {
  const F = global.CoinpilotFormat;
  const D = global.CoinpilotDom;
  const R = global.CoinpilotRender;
  const { h, pnl, field, meter, level, usd, table } = D;
  const DASH = F.DASH;

  function controls(page) {
    const bot = page.bot;
    const status = bot.status;
    const pos = page.position;
    const holding = pos && F.signOf(pos.base_size) > 0;
    const buttons = [];
    const notes = [];
    if (bot.archived_at) {
      // Archived (a delete that kept its trade history): it never runs again; nothing to control.
      notes.push(`Archived ${F.formatTime(bot.archived_at)}: this bot no longer runs or shows in the overview; its trades stay in analytics, exports and the audit.`);
      return h("div", { class: "card page-controls" }, h("h2", {}, "Controls"), h("ul", { class: "notes muted" }, notes.map((n) => h("li", {}, n))));
    }
    if (status !== "RUNNING") {
      buttons.push(h("button", { type: "button", class: "btn btn-primary", dataset: { pageAction: "start" } }, status === "STOPPED" ? "Start" : "Resume"));
      notes.push(`${status === "STOPPED" ? "Start" : "Resume"}: the bot evaluates its signals again and may buy or sell while trading is enabled, within every safety limit.`);
    }
    if (status === "RUNNING") {
      buttons.push(h("button", { type: "button", class: "btn", dataset: { pageAction: "pause" } }, "Pause"));
      notes.push("Pause: no new entries; stop-loss, trailing stop and take-profit keep running. Resume takes it back to running.");
    }
    if (status !== "STOPPED") {
      buttons.push(h("button", { type: "button", class: "btn", dataset: { pageAction: "stop" } }, "Stop"));
      notes.push("Stop: no more evaluations or signal trades; an open position is kept as it is.");
    }
    if (holding) {
      buttons.push(h("button", { type: "button", class: "btn btn-danger", dataset: { pageAction: "stop-close" } }, "Stop and close"));
      notes.push("Stop and close: stops the bot, then sells the whole position at market through the safety check (refused while trading is disabled or an emergency stop is engaged).");
    }
    buttons.push(h("a", { class: "btn", href: `/bots/${bot.id}/edit` }, "Edit settings"));
    notes.push("Edit settings: signals, thresholds, confirmation, sizing, tranches, DCA step, ladder, stop-loss and trailing; nothing is stored while any field is refused.");
    if (status === "PAUSED") notes.unshift(`Paused: ${bot.status_reason || "no reason recorded"}. No new entries; stop-loss, trailing stop and take-profit keep running.`);
    return h("div", { class: "card page-controls" }, h("h2", {}, "Controls"), h("div", { class: "row buttons" }, buttons), h("ul", { class: "notes muted" }, notes.map((n) => h("li", {}, n))));
  }

  function usagePanel(page) {
    const u = (page.live && page.live.usage) || {};
    const frac = (a, b) => (Number(b) > 0 ? Number(a) / Number(b) : 0);
    const cost = F.ratio(u.position_cost, u.max_position_usd);
    const loss = F.ratio(u.realized_pnl_today, u.daily_loss_limit_usd);
    return h(
      "div",
      { class: "card" },
      h("h2", {}, "Safety today (this bot)"),
      h(
        "dl",
        { class: "fields" },
        field("Trades", h("span", { class: "num" }, `${u.trades_today ?? DASH} / ${u.max_trades_today ?? DASH}`)),
        field("", meter(frac(u.trades_today, u.max_trades_today), level(frac(u.trades_today, u.max_trades_today)), "Bot trades used today")),
        field("Cooldown", Number(u.cooldown_remaining_seconds) > 0 ? h("span", { class: "warn-text" }, `${F.formatDuration(u.cooldown_remaining_seconds)} left of ${F.formatDuration(u.cooldown_minutes * 60)}`) : h("span", { class: "muted" }, "none")),
        field("Losses in a row", h("span", { class: "num" }, `${u.consecutive_losses ?? DASH} / ${u.max_consecutive_losses ?? DASH}`)),
        field("Realised today", pnl(u.realized_pnl_today), h("span", { class: "muted" }, ` of \u2212${F.formatMoney(u.daily_loss_limit_usd)} limit`)),
        field("", meter(loss === null ? 0 : Math.max(0, -loss), level(loss === null ? 0 : -loss), "Bot daily loss used")),
        field("Exposure", usd(u.position_cost), h("span", { class: "muted" }, ` of ${F.formatUsd(u.max_position_usd)} cap`)),
        field("", meter(cost === null ? 0 : cost, level(cost || 0), "Bot exposure against its cap")),
        field("Tranches", h("span", { class: "num" }, `${u.tranches ?? DASH} / ${u.max_tranches ?? DASH}`)),
      ),
    );
  }

  function signalsCard(page) {
    const live = page.live || {};
    const num = (x, d) => (typeof x === "number" ? x.toFixed(d) : DASH);
    const rows = (live.signals || []).map((s) =>
      h(
        "tr",
        { class: s.status && s.status !== "ok" ? "signal-bad" : "" },
        h("td", {}, s.name || DASH),
        h("td", {}, s.status || DASH),
        h("td", { class: "num" }, num(s.value, 2)),
        h("td", { class: "num" }, F.formatScore(s.score)),
        h("td", { class: "num" }, num(s.effective_weight ?? s.weight, 2)),
        h("td", { class: "num" }, F.formatScore(s.contribution)),
      ),
    );
    const c = live.confirmation || {};
    return h(
      "div",
      { class: "card" },
      h("h2", {}, "Signals"),
      h(
        "p",
        {},
        "Score ",
        h("strong", { class: "num" }, F.formatScore(live.score)),
        " \u00b7 ",
        D.temperature(live.temperature, live.status !== "RUNNING"),
        " \u00b7 ",
        c.action ? `confirming ${String(c.action).toUpperCase()}, ${c.confirmed ? "confirmed" : `${F.formatDuration(c.remaining_seconds)} left`}` : `no live confirmation${c.inactive ? ` (${c.inactive.toLowerCase()})` : ""}`,
      ),
      table("signals", ["Signal", "Status", { label: "Value", num: true }, { label: "Score", num: true }, { label: "Weight", num: true }, { label: "Contrib.", num: true }], rows, "No evaluation yet."),
    );
  }

  function historyCard(page) {
    const evals = page.evaluations || [];
    const scores = [...evals].reverse().map((e) => e.score);
    const w = 100;
    const ht = 30;
    const box = h("div", { class: "spark", title: "recent scores, oldest left" });
    if (scores.length >= 2) {
      const y = (s) => (ht / 2 - Math.max(-1, Math.min(1, s)) * (ht / 2 - 1)).toFixed(2);
      const el = D.svg("svg", { viewBox: `0 0 ${w} ${ht}`, preserveAspectRatio: "none", role: "img", "aria-label": "score history" });
      const line = (v, cls) => el.append(D.svg("line", { x1: 0, x2: w, y1: y(v), y2: y(v), class: cls }));
      line(0, "spark-zero");
      line(Math.abs(Number(page.bot.buy_threshold)), "spark-buy");
      line(-Math.abs(Number(page.bot.sell_threshold)), "spark-sell");
      const stepX = w / (scores.length - 1);
      el.append(D.svg("polyline", { points: scores.map((s, i) => `${(i * stepX).toFixed(2)},${y(s)}`).join(" "), class: "spark-line" }));
      box.append(el);
    }
    const rows = evals.slice(0, 20).map((e) =>
      h("tr", {}, h("td", {}, F.formatTime(e.evaluated_at)), h("td", { class: "num" }, F.formatScore(e.score)), h("td", {}, e.action), h("td", {}, e.temperature), h("td", { class: "num" }, e.price ? F.formatPrice(e.price) : DASH)),
    );
    return h("div", { class: "card" }, h("h2", {}, "Evaluation history"), box, table("evals", ["Time", { label: "Score", num: true }, "Action", "Temperature", { label: "Price", num: true }], rows, "No evaluations stored."));
  }

  function positionCard(page, inc) {
    const p = page.position;
    // Dust: remainders below the product's increment or minimum, held but never sellable.
    const dust =
      p && F.signOf(p.dust_base_size || "0") > 0
        ? h("p", { class: "muted dust" }, `Dust (too small to sell): ${F.formatSizeAt(p.dust_base_size, inc.base_increment)}, worth ${F.formatUsd(p.dust_value)} when set aside.`)
        : null;
    if (!p || F.signOf(p.base_size) === 0) return h("div", { class: "card" }, h("h2", {}, "Position"), h("p", { class: "muted" }, "Flat: no position."), dust);
    const rows = (p.tranches || []).map((t) =>
      h(
        "tr",
        {},
        h("td", {}, D.link(`/trades/${t.trade_id}`, `#${t.trade_id}`)),
        h("td", { class: "num" }, F.formatPriceAt(t.entry_price, inc.quote_increment)),
        h("td", { class: "num" }, F.formatSizeAt(t.base_size, inc.base_increment)),
        h("td", { class: "num" }, F.formatUsd(t.cost)),
        h("td", { class: "num" }, F.formatUsd(t.fee)),
        h("td", {}, F.formatTime(t.opened_at)),
      ),
    );
    return h(
      "div",
      { class: "card" },
      h("h2", {}, "Position"),
      h(
        "dl",
        { class: "fields" },
        field("Size", h("span", { class: "num" }, F.formatSizeAt(p.base_size, inc.base_increment))),
        field("Avg entry", h("span", { class: "num" }, F.formatPriceAt(p.avg_entry_price, inc.quote_increment))),
        field("Cost", usd(p.cost)),
        field("Unrealised", p.unrealized_pnl === null ? DASH : pnl(p.unrealized_pnl)),
        field("Realised", pnl(p.realized_pnl)),
        field("Fees", usd(p.total_fees)),
      ),
      dust,
      h("h3", { class: "sub" }, "Tranches"),
      table("tranches", ["Trade", { label: "Entry", num: true }, { label: "Size", num: true }, { label: "Cost", num: true }, { label: "Fee", num: true }, "Opened"], rows, "No open tranches."),
    );
  }

  /* Paging: the page's data holds the newest trades and decisions; older pages are fetched on
   * demand ("Older trades" / "Older decisions") and kept across the 5 s refreshes of this bot. */
  // *Next: the cursor after the last page fetched (undefined: none fetched yet; null: no more).
  const older = { botId: null, trades: [], tradesNext: undefined, decisions: [], decisionsNext: undefined };

  function withOlder(page) {
    if (older.botId !== page.bot.id) {
      Object.assign(older, { botId: page.bot.id, trades: [], tradesNext: undefined, decisions: [], decisionsNext: undefined });
    }
    const merge = (newest, kept) => {
      const seen = new Set(newest.map((x) => x.id));
      return [...newest, ...kept.filter((x) => !seen.has(x.id))];
    };
    page.trades = merge(page.trades || [], older.trades);
    page.safety_decisions = merge(page.safety_decisions || [], older.decisions);
    page.trades_more = older.tradesNext !== undefined ? older.tradesNext : page.trades_next_before;
    page.decisions_more = older.decisionsNext !== undefined ? older.decisionsNext : page.decisions_next_before;
  }

  /** Fetch the next older page of "trades" or "decisions" for the shown bot. */
  async function loadOlder(page, kind) {
    const before = kind === "trades" ? page.trades_more : page.decisions_more;
    if (before === null || before === undefined) return;
    const q = new URLSearchParams({ before: String(before) });
    const got = await global.CoinpilotApi.getJson(`/bots/${page.bot.id}/page/${kind}?${q}`);
    if (older.botId !== page.bot.id) return;
    if (kind === "trades") {
      older.trades = [...older.trades, ...got.trades];
      older.tradesNext = got.next_before;
    } else {
      older.decisions = [...older.decisions, ...got.safety_decisions];
      older.decisionsNext = got.next_before;
    }
  }

  function moreButton(kind, cursor, label) {
    if (cursor === null || cursor === undefined) return null;
    return h("p", {}, h("button", { type: "button", class: "btn", id: `older-${kind}`, dataset: { pageMore: kind } }, label));
  }

  function tradesCard(page, products) {
    const inc = products[page.bot.pair] || {};
    const rows = [];
    for (const t of page.trades || []) {
      rows.push(R.tradeRow({ ...t, bot_name: page.bot.name }, products, false));
      for (const f of t.fills || []) {
        rows.push(
          h(
            "tr",
            { class: "fill-row" },
            h("td", { class: "muted" }, `\u21b3 fill ${F.formatTime(f.time)}`),
            h("td", { colspan: 3, class: "muted" }, f.liquidity || ""),
            h("td", { class: "num" }, F.formatSizeAt(f.base_size, inc.base_increment)),
            h("td", { class: "num" }, F.formatPriceAt(f.price, inc.quote_increment)),
            h("td", {}, ""),
            h("td", { class: "num" }, F.formatUsd(f.fee)),
            h("td", { colspan: 2 }, ""),
          ),
        );
      }
    }
    return h(
      "div",
      { class: "card wide" },
      h("h2", {}, `Trades (${(page.trades || []).length}${page.trades_more ? " newest" : ""})`),
      table("trades", ["Trade", "Side", "Intent", "Status", { label: "Size", num: true }, { label: "Price", num: true }, { label: "Value", num: true }, { label: "Fees", num: true }, { label: "P&L", num: true }, "Mode"], rows, "No trades yet."),
      moreButton("trades", page.trades_more, "Older trades"),
    );
  }

  function decisionsCard(page) {
    const rows = (page.safety_decisions || []).map((d) =>
      h(
        "tr",
        { class: d.allowed ? "" : "refused" },
        h("td", {}, F.formatTime(d.at)),
        h("td", {}, `${String(d.side || "").toUpperCase()} ${d.intent || ""}${d.dry_run ? " (check only)" : ""}`),
        h("td", {}, h("span", { class: d.allowed ? "status status-settled" : "status status-failed" }, d.allowed ? "allowed" : "refused")),
        h("td", { class: "reasons" }, (d.reasons || []).length ? (d.reasons || []).map((r) => h("div", {}, h("code", {}, r.code), ` ${r.message}`)) : h("span", { class: "muted" }, `${(d.checks || []).length} checks passed`)),
      ),
    );
    return h(
      "div",
      { class: "card wide" },
      h("h2", {}, "Safety decisions"),
      table("decisions", ["Time", "Request", "Decision", "Reasons"], rows, "No decisions recorded."),
      moreButton("decisions", page.decisions_more, "Older decisions"),
    );
  }

  function renderBotPage(page, el, opts) {
    const bot = page.bot;
    withOlder(page);
    const products = opts.products || {};
    const inc = products[bot.pair] || {};
    const chartBox = h("div", { id: "bot-chart", class: "chart", role: "img", "aria-label": `${bot.pair} candles with trade markers` });
    el.replaceChildren(
      h("p", {}, D.link("/", "\u2190 Overview")),
      h(
        "header",
        { class: "page-head" },
        h("h2", { class: "page-title" }, bot.name),
        h("span", { class: "pair" }, bot.pair),
        h("span", { class: `pill bot-status bot-status-${String(bot.status).toLowerCase()}`, id: "bot-page-status" }, bot.status),
        page.live && page.live.stale ? h("span", { class: "stale-tag" }, "stale data") : null,
        bot.status_reason ? h("span", { class: "muted" }, bot.status_reason) : null,
      ),
      h("section", { class: "overview" }, controls(page), usagePanel(page), signalsCard(page)),
      h("section", { class: "card wide" }, h("h2", {}, `Price \u00b7 ${String(bot.granularity).toLowerCase().replace("_", " ")} candles`), chartBox,
        h("p", { id: "chart-note", class: "muted small" }, "Loading candles\u2026"),
        h("p", { class: "muted small" }, "Charting by ", h("a", { href: "https://www.tradingview.com/", rel: "noopener" }, "TradingView"), " Lightweight Charts\u2122 (Apache-2.0, served from this server).")),
      h("section", { class: "overview" }, positionCard(page, inc), historyCard(page)),
      tradesCard(page, products),
      decisionsCard(page),
    );
    return chartBox;
  }

  global.CoinpilotBotPage = { renderBotPage, loadOlder };
})(window);

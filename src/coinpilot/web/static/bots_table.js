/* Coinpilot dashboard: the overview's bots table, sortable by any column, one row per bot.
 *
 * A row is marked stale when the server says its data is old (a RUNNING bot not evaluated for
 * three engine intervals). A stopped or paused bot shows no live confirmation. */
"use strict";

(function (global) {
  const F = global.CoinpilotFormat;
  const D = global.CoinpilotDom;
  const { h, pnl, meter } = D;
  const DASH = F.DASH;
  const num = (x) => (x === null || x === undefined || x === "" ? null : Number(x));

  const scorePos = (s) => D.pct((Math.max(-1, Math.min(1, s)) + 1) / 2);

  function scoreCell(bot) {
    const buy = Math.abs(Number(bot.buy_threshold ?? 0));
    const sell = -Math.abs(Number(bot.sell_threshold ?? 0));
    const bar = h(
      "div",
      { class: "scorebar", title: `buy at \u2265 ${F.formatScore(buy)}, sell at \u2264 ${F.formatScore(sell)}` },
      h("div", { class: "zone zone-sell", style: { left: "0", width: scorePos(sell) } }),
      h("div", { class: "zone zone-buy", style: { left: scorePos(buy), right: "0" } }),
      h("div", { class: "tick tick-zero", style: { left: "50%" } }),
      h("div", { class: "tick tick-sell", style: { left: scorePos(sell) } }),
      h("div", { class: "tick tick-buy", style: { left: scorePos(buy) } }),
    );
    if (typeof bot.score === "number") bar.append(h("div", { class: "marker", style: { left: scorePos(bot.score) } }));
    return h(
      "div",
      { class: "score" },
      h(
        "div",
        { class: "score-head" },
        h("span", { class: "num score-value" }, F.formatScore(bot.score)),
        h("span", { class: `action action-${bot.action || "none"}` }, bot.action ? bot.action.toUpperCase() : "not evaluated"),
      ),
      bar,
    );
  }

  function confirmationCell(bot) {
    const c = bot.confirmation;
    if (!c || !c.action) {
      const why = c && c.inactive ? `none (${c.inactive.toLowerCase()})` : "no pending action";
      return h("div", { class: "confirmation muted" }, why);
    }
    const progress = D.clamp01(Number(c.progress || 0));
    const text = c.confirmed ? "confirmed" : `${Math.round(progress * 100)}% \u00b7 ${F.formatDuration(c.remaining_seconds)} left`;
    return h(
      "div",
      { class: `confirmation ${c.confirmed ? "confirmed" : ""}` },
      h("div", { class: "confirm-head" }, h("span", { class: "label" }, String(c.action).toUpperCase()), h("span", { class: "num confirm-text" }, text)),
      meter(progress, c.confirmed ? "ok" : "info", "Confirmation progress"),
    );
  }

  function positionCell(bot, inc) {
    const p = bot.position;
    if (!p || F.signOf(p.base_size) === 0) {
      return h("div", { class: "position muted" }, "none");
    }
    return h(
      "div",
      { class: "position" },
      h("div", {}, h("span", { class: `pill pos-${String(p.status).toLowerCase()}` }, p.status || DASH), " ", h("span", { class: "num" }, `${p.tranches ?? DASH} / ${p.max_tranches ?? DASH}`)),
      h(
        "div",
        { class: "num small" },
        F.formatSizeAt(p.base_size, inc && inc.base_increment),
        " @ ",
        F.formatPriceAt(p.avg_entry_price, inc && inc.quote_increment),
      ),
    );
  }

  function lastTradeCell(lt) {
    if (!lt) return h("span", { class: "muted" }, DASH);
    return h(
      "span",
      { class: "last-trade", title: `${lt.intent || ""} ${F.formatTime(lt.created_at)}` },
      D.link(`/trades/${lt.id}`, `#${lt.id}`),
      ` ${String(lt.side || "").toUpperCase()} ${lt.intent || ""}`,
      h("div", {}, h("span", { class: `status status-${String(lt.status).toLowerCase()}` }, lt.status)),
    );
  }

  function actionButton(bot) {
    const running = bot.status === "RUNNING" || bot.status === "PAUSED";
    const label = running ? "Stop" : bot.status === "STOPPED" ? "Start" : "Resume";
    return h(
      "button",
      {
        type: "button",
        class: running ? "btn btn-small" : "btn btn-small btn-primary",
        dataset: { botAction: running ? "stop" : "start", botId: String(bot.id) },
        title: running ? "Stops evaluating; an open position is kept (sell it from the bot page)" : "Starts evaluating; trades only while trading is enabled",
      },
      label,
    );
  }

  /* Sorting: [key, label, numeric?, value(bot)] */
  const COLUMNS = [
    ["name", "Bot", false, (b) => b.name],
    ["price", "Price", true, (b) => num(b.price)],
    ["score", "Score", true, (b) => b.score],
    ["temperature", "Temperature", false, (b) => (b.temperature ? b.temperature.ratio : null)],
    ["confirmation", "Confirmation", false, (b) => (b.confirmation && b.confirmation.action ? b.confirmation.remaining_seconds : null)],
    ["position", "Position", false, (b) => (b.position ? num(b.position.cost) : null)],
    ["unrealized", "Unrealised", true, (b) => (b.position ? num(b.position.unrealized_pnl) : null)],
    ["trades", "Today", true, (b) => (b.usage ? b.usage.trades_today : null)],
    ["last", "Last trade", false, (b) => (b.last_trade ? b.last_trade.id : null)],
  ];

  function sorted(bots, sort) {
    const col = COLUMNS.find((c) => c[0] === sort.key) || COLUMNS[0];
    const dir = sort.dir === "desc" ? -1 : 1;
    return [...bots].sort((a, b) => {
      const va = col[3](a);
      const vb = col[3](b);
      if (va === null || va === undefined) return vb === null || vb === undefined ? a.id - b.id : 1;
      if (vb === null || vb === undefined) return -1;
      const c = typeof va === "number" && typeof vb === "number" ? va - vb : String(va).localeCompare(String(vb));
      return c === 0 ? a.id - b.id : c * dir;
    });
  }

  function headerRow(sort) {
    return h(
      "tr",
      {},
      COLUMNS.map(([key, label, numeric]) =>
        h(
          "th",
          { class: numeric ? "num" : "", "aria-sort": sort.key === key ? (sort.dir === "desc" ? "descending" : "ascending") : "none" },
          h("button", { type: "button", class: "sort", dataset: { sortKey: key } }, label, sort.key === key ? (sort.dir === "desc" ? " \u25bc" : " \u25b2") : ""),
        ),
      ),
      h("th", {}, h("span", { class: "sr-only" }, "Actions")),
    );
  }

  function botRow(bot, products) {
    const inc = (products || {})[bot.pair];
    const u = bot.usage || {};
    const live = bot.status === "RUNNING";
    const cd = Number(bot.cooldown_remaining_seconds || 0);
    const row = h(
      "tr",
      {
        class: `bot-row status-${String(bot.status).toLowerCase()} ${bot.stale ? "stale-row" : ""}`,
        dataset: { botId: String(bot.id) },
        title: bot.stale ? `No fresh evaluation since ${F.formatTime(bot.last_evaluated_at)}` : null,
      },
      h(
        "td",
        { class: "bot-cell" },
        D.link(`/bots/${bot.id}`, h("span", { class: "bot-name" }, bot.name)),
        " ",
        h("span", { class: `pill bot-status bot-status-${String(bot.status).toLowerCase()}`, title: bot.status_reason || null }, bot.status),
        h("div", { class: "pair muted small" }, bot.pair),
        bot.stale ? h("div", { class: "stale-tag" }, "stale data") : null,
        bot.last_error ? h("div", { class: "last-error", role: "note" }, bot.last_error) : null,
      ),
      h("td", { class: "num" }, bot.price ? F.formatPriceAt(bot.price, inc && inc.quote_increment) : DASH),
      h("td", {}, scoreCell(bot)),
      h("td", {}, D.temperature(bot.temperature, !live)),
      h("td", {}, confirmationCell(bot)),
      h("td", {}, positionCell(bot, inc)),
      h("td", { class: "num" }, bot.position ? pnl(bot.position.unrealized_pnl) : DASH),
      h(
        "td",
        { class: "num usage small" },
        h("div", { class: "usage-trades" }, u.max_trades_today ? `${u.trades_today} / ${u.max_trades_today} trades` : DASH),
        h("div", { class: u.consecutive_losses >= u.max_consecutive_losses ? "neg" : "" }, u.max_consecutive_losses ? `${u.consecutive_losses} / ${u.max_consecutive_losses} losses` : ""),
        h("div", { class: "cooldown" }, cd > 0 ? h("span", { class: "warn-text" }, `cooldown ${F.formatDuration(cd)}`) : h("span", { class: "muted" }, "no cooldown")),
      ),
      h("td", {}, lastTradeCell(bot.last_trade)),
      h("td", {}, actionButton(bot)),
    );
    return row;
  }

  function renderBots(bots, el, opts) {
    if (!bots || !bots.length) {
      el.replaceChildren(h("p", { class: "empty muted" }, "No bots yet. Create one with the CLI or POST /api/v1/bots."));
      return;
    }
    el.replaceChildren(
      h(
        "div",
        { class: "table-wrap" },
        h("table", { class: "grid bots-table", id: "bots-table" }, h("thead", {}, headerRow(opts.sort)), h("tbody", {}, sorted(bots, opts.sort).map((b) => botRow(b, opts.products)))),
      ),
    );
  }

  global.CoinpilotBotsTable = { renderBots, COLUMNS };
})(window);

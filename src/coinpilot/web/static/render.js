/* Coinpilot dashboard: turns the status summary JSON into DOM.
 *
 * Everything is built with createElement/textContent (bot names and error texts never become
 * HTML). Pure view code: no fetching, no timers; app.js owns the data flow.
 */
"use strict";

(function (global) {
  const F = global.CoinpilotFormat;
  const DASH = F.DASH;
  const SVG_NS = "http://www.w3.org/2000/svg";

  /** h("div", {class: "x", title: "y"}, child, "text", …) */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "dataset") Object.assign(el.dataset, value);
      else if (key === "style") el.style.cssText = value;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function svg(tag, attrs) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
    return el;
  }

  const clamp01 = (x) => Math.min(1, Math.max(0, x));
  const pct = (x) => `${(clamp01(x) * 100).toFixed(1)}%`;
  const scorePos = (s) => pct((Math.max(-1, Math.min(1, s)) + 1) / 2);

  /** Colour class for a P&L decimal string. */
  function pnlClass(text) {
    const sign = F.signOf(text);
    return sign > 0 ? "pos" : sign < 0 ? "neg" : "";
  }

  function pnl(text) {
    return h("span", { class: `num ${pnlClass(text)}` }, F.formatPnl(text));
  }

  function meter(fraction, cls, label) {
    const bar = h("div", {
      class: `meter ${cls || ""}`,
      role: "progressbar",
      "aria-valuemin": 0,
      "aria-valuemax": 100,
      "aria-valuenow": Math.round(clamp01(fraction) * 100),
      "aria-label": label,
    });
    bar.append(h("div", { class: "meter-fill", style: `width:${pct(fraction)}` }));
    return bar;
  }

  function field(label, ...value) {
    return h("div", { class: "field" }, h("dt", {}, label), h("dd", {}, ...value));
  }

  /* ---- header, safety and totals ---- */

  function renderStatus(data, els) {
    const mode = String(data.mode || "unknown").toLowerCase();
    els.modeBadge.textContent = mode === "production" ? "PRODUCTION" : mode.toUpperCase();
    els.modeBadge.className = `badge mode-${mode}`;
    els.modeBadge.title = mode === "production" ? "Real orders with real money" : "Simulated orders";
    document.body.classList.toggle("production", mode === "production");

    const t = data.trading || {};
    const state = String(t.state || "HALTED").toUpperCase();
    const pill = { ACTIVE: "pill-on", REDUCING: "pill-warn", HALTED: "pill-danger" }[state] || "pill-danger";
    els.tradingState.textContent = `Trading ${state}`;
    els.tradingState.className = `pill ${pill}`;
    els.tradingState.title = {
      ACTIVE: "Everything within the limits",
      REDUCING: "Only sells that reduce risk (stops, take-profit, exits); no buys",
      HALTED: "Nothing is sent but a person's emergency close",
    }[state] || "";
    els.emergencyState.textContent = t.reason || "no reason given";
    els.emergencyState.className = `pill ${state === "ACTIVE" ? "pill-quiet" : pill}`;

    els.emergencyBanner.hidden = state === "ACTIVE";
    if (state !== "ACTIVE") {
      els.emergencyBanner.replaceChildren(
        h("strong", {}, `Trading ${state}`),
        ` \u2014 ${t.reason || "no reason given"}`,
        t.by ? ` (by ${t.by}` : "",
        t.by && t.since ? `, since ${F.formatTime(t.since)})` : t.by ? ")" : "",
        state === "REDUCING"
          ? ". Only risk-reducing sells are sent; no buys until a person activates trading."
          : ". Nothing is sent but a person's emergency close.",
      );
    }
    els.enableBtn.disabled = state === "ACTIVE";
    els.disableBtn.disabled = state === "HALTED";
    els.stopBtn.disabled = false;
    els.releaseBtn.disabled = state !== "HALTED";
  }

  function renderSafety(data, el) {
    const s = data.safety || {};
    const trades = Number(s.trades_today || 0);
    const maxTrades = Number(s.max_daily_trades || 0);
    const tradeFrac = maxTrades > 0 ? trades / maxTrades : 0;
    // Loss used = max(0, -realised today) / limit, computed exactly from the decimal strings.
    const r = F.ratio(s.realized_pnl_today, s.daily_loss_limit_usd);
    const lossFrac = r === null ? 0 : Math.max(0, -r);
    const level = (f) => (f >= 0.9 ? "danger" : f >= 0.6 ? "warn" : "ok");
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
        field("Max per trade", h("span", { class: "num" }, `$${F.formatMoney(s.max_trade_usd)}`)),
      ),
    );
  }

  function renderTotals(data, el) {
    const t = data.totals || {};
    el.replaceChildren(
      h("h2", {}, "Totals"),
      h(
        "dl",
        { class: "fields" },
        field("Bots", h("span", { class: "num" }, `${t.running ?? DASH} running of ${t.bots ?? DASH}`)),
        field("Realised P&L", pnl(t.realized_pnl)),
        field("Unrealised P&L", pnl(t.unrealized_pnl)),
        field("Exposure", h("span", { class: "num" }, `$${F.formatMoney(t.exposure)}`)),
      ),
    );
  }

  /* ---- bot cards ---- */

  function scoreBar(bot) {
    const buy = Math.abs(Number(bot.buy_threshold ?? 0));
    const sell = -Math.abs(Number(bot.sell_threshold ?? 0));
    const bar = h(
      "div",
      { class: "scorebar", title: `buy at \u2265 ${F.formatScore(buy)}, sell at \u2264 ${F.formatScore(sell)}` },
      h("div", { class: "zone zone-sell", style: `left:0;width:${scorePos(sell)}` }),
      h("div", { class: "zone zone-buy", style: `left:${scorePos(buy)};right:0` }),
      h("div", { class: "tick tick-zero", style: `left:50%` }),
      h("div", { class: "tick tick-sell", style: `left:${scorePos(sell)}`, title: `sell threshold ${F.formatScore(sell)}` }),
      h("div", { class: "tick tick-buy", style: `left:${scorePos(buy)}`, title: `buy threshold ${F.formatScore(buy)}` }),
    );
    if (typeof bot.score === "number") {
      bar.append(h("div", { class: "marker", style: `left:${scorePos(bot.score)}` }));
    }
    return h(
      "div",
      { class: "score" },
      h(
        "div",
        { class: "score-head" },
        h("span", { class: "label" }, "Score"),
        h("span", { class: "num score-value" }, F.formatScore(bot.score)),
        h("span", { class: `action action-${bot.action || "none"}` }, bot.action ? bot.action.toUpperCase() : "not evaluated"),
      ),
      bar,
      h("div", { class: "scale" }, h("span", {}, "\u22121 sell"), h("span", {}, "0"), h("span", {}, "buy +1")),
    );
  }

  function temperature(t) {
    if (!t) return h("div", { class: "temperature muted" }, "Temperature ", DASH);
    const dist = typeof t.distance_to_action === "number" ? t.distance_to_action.toFixed(2) : DASH;
    const toward = t.leaning && t.leaning !== "hold" ? ` from ${t.leaning}` : " from action";
    return h(
      "div",
      { class: `temperature temp-${t.level || "none"}` },
      h("span", { class: "emoji", "aria-hidden": "true" }, t.emoji || ""),
      h("span", { class: "temp-level" }, t.level || DASH),
      h("span", { class: "muted" }, ` \u00b7 ${dist}${toward}`),
    );
  }

  function confirmation(c) {
    if (!c || !c.action) {
      const needs = c && c.required_seconds ? ` \u00b7 an action must hold for ${F.formatDuration(c.required_seconds)}` : "";
      return h("div", { class: "confirmation muted" }, `Confirmation: no pending action${needs}`);
    }
    const progress = clamp01(Number(c.progress || 0));
    const text = c.confirmed
      ? "confirmed"
      : `${Math.round(progress * 100)}% \u00b7 ${F.formatDuration(c.remaining_seconds)} left`;
    return h(
      "div",
      { class: `confirmation ${c.confirmed ? "confirmed" : ""}` },
      h(
        "div",
        { class: "confirm-head" },
        h("span", { class: "label" }, `Confirming ${String(c.action || "").toUpperCase()}`),
        h("span", { class: "num confirm-text" }, text),
      ),
      meter(progress, c.confirmed ? "ok" : "info", "Confirmation progress"),
    );
  }

  function position(bot) {
    const p = bot.position;
    const rows = [];
    if (!p) {
      rows.push(field("Position", h("span", { class: "muted" }, "none")));
    } else {
      rows.push(
        field("Position", h("span", { class: `pill pos-${String(p.status).toLowerCase()}` }, p.status || DASH)),
        field("Size", h("span", { class: "num" }, F.formatSize(p.base_size))),
        field(
          "Avg entry",
          h("span", { class: "num" }, F.formatPrice(p.avg_entry_price)),
          p.mark_price ? h("span", { class: "muted" }, ` \u00b7 mark ${F.formatPrice(p.mark_price)}`) : null,
        ),
        field("Unrealised", pnl(p.unrealized_pnl)),
        field("Realised", pnl(p.realized_pnl)),
        field("Tranches", h("span", { class: "num" }, `${p.tranches ?? DASH} / ${p.max_tranches ?? DASH}`)),
      );
    }
    const cd = Number(bot.cooldown_remaining_seconds || 0);
    rows.push(field("Cooldown", cd > 0 ? h("span", { class: "warn-text" }, `${F.formatDuration(cd)} left`) : h("span", { class: "muted" }, "none")));
    const lt = bot.last_trade;
    rows.push(
      field(
        "Last trade",
        lt
          ? h(
              "span",
              { class: "last-trade" },
              `#${lt.id} ${String(lt.side || "").toUpperCase()} ${lt.intent || ""} `,
              h("span", { class: `status status-${String(lt.status).toLowerCase()}` }, lt.status),
              F.signOf(lt.filled_value) > 0
                ? ` $${F.formatMoney(lt.filled_value)}`
                : lt.requested_quote_size
                  ? ` $${F.formatMoney(lt.requested_quote_size)} req.`
                  : "",
            )
          : h("span", { class: "muted" }, DASH),
      ),
    );
    return h("dl", { class: "fields position" }, rows);
  }

  function signalsTable(signals) {
    if (!signals || !signals.length) return h("p", { class: "muted" }, "No signal breakdown yet.");
    const num = (x, d) => (typeof x === "number" ? x.toFixed(d) : DASH);
    return h(
      "table",
      { class: "signals" },
      h("thead", {}, h("tr", {}, ["Signal", "Status", "Value", "Score", "Weight", "Contrib."].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        signals.map((s) =>
          h(
            "tr",
            { class: s.status && s.status !== "ok" ? "signal-bad" : "" },
            h("td", { title: s.detail && Object.keys(s.detail).length ? JSON.stringify(s.detail) : null }, s.name || DASH),
            h("td", {}, s.status || DASH),
            h("td", { class: "num" }, num(s.value, 2)),
            h("td", { class: "num" }, F.formatScore(s.score)),
            h("td", { class: "num" }, num(s.effective_weight ?? s.weight, 2)),
            h("td", { class: "num" }, F.formatScore(s.contribution)),
          ),
        ),
      ),
    );
  }

  /** Inline SVG of recent scores (oldest left) with the thresholds dashed. */
  function sparkline(scores, bot) {
    const box = h("div", { class: "spark", title: "recent scores" });
    if (!scores) return box; // not fetched (yet): collapsed by CSS
    if (scores.length < 2) {
      box.append(h("span", { class: "muted" }, "score history: not enough points yet"));
      return box;
    }
    const w = 100;
    const ht = 30;
    const y = (s) => (ht / 2 - Math.max(-1, Math.min(1, s)) * (ht / 2 - 1)).toFixed(2);
    const el = svg("svg", { viewBox: `0 0 ${w} ${ht}`, preserveAspectRatio: "none", role: "img", "aria-label": "score history" });
    const line = (v, cls) => el.append(svg("line", { x1: 0, x2: w, y1: y(v), y2: y(v), class: cls }));
    line(0, "spark-zero");
    line(Math.abs(Number(bot.buy_threshold ?? 0)), "spark-buy");
    line(-Math.abs(Number(bot.sell_threshold ?? 0)), "spark-sell");
    const step = w / (scores.length - 1);
    const points = scores.map((s, i) => `${(i * step).toFixed(2)},${y(s)}`).join(" ");
    el.append(svg("polyline", { points, class: "spark-line" }));
    box.append(el);
    return box;
  }

  function botCard(bot, opts) {
    const running = bot.status === "RUNNING" || bot.status === "PAUSED";
    const details = h(
      "details",
      { class: "signals-box", open: opts.expanded },
      h("summary", {}, `Signals (${(bot.signals || []).length})`),
      signalsTable(bot.signals),
    );
    details.addEventListener("toggle", () => opts.onToggle(bot.id, details.open));
    const button = h(
      "button",
      { type: "button", class: running ? "btn" : "btn btn-primary", dataset: { botAction: running ? "stop" : "start", botId: String(bot.id) } },
      running ? "Stop bot" : "Start bot",
    );
    return h(
      "article",
      { class: `bot status-${String(bot.status).toLowerCase()}`, dataset: { botId: String(bot.id) } },
      h(
        "header",
        { class: "bot-head" },
        h("div", {}, h("h3", { class: "bot-name" }, bot.name), h("span", { class: "pair" }, bot.pair)),
        h("span", { class: `pill bot-status bot-status-${String(bot.status).toLowerCase()}`, title: bot.status_reason || null }, bot.status),
        button,
      ),
      bot.status_reason ? h("p", { class: "status-reason muted" }, bot.status_reason) : null,
      h(
        "div",
        { class: "bot-meta muted" },
        `Price ${bot.price ? F.formatPrice(bot.price) : DASH}`,
        ` \u00b7 evaluated ${F.formatTime(bot.last_evaluated_at)}`,
      ),
      scoreBar(bot),
      sparkline(opts.history, bot),
      temperature(bot.temperature),
      confirmation(bot.confirmation),
      position(bot),
      bot.last_error ? h("p", { class: "last-error", role: "note" }, h("strong", {}, "Last error: "), bot.last_error) : null,
      details,
    );
  }

  function renderBots(bots, el, opts) {
    if (!bots || !bots.length) {
      el.replaceChildren(h("p", { class: "empty muted" }, "No bots yet. Create one with the CLI or POST /api/v1/bots."));
      return;
    }
    el.replaceChildren(
      ...bots.map((bot) =>
        botCard(bot, { expanded: opts.expanded.has(bot.id), onToggle: opts.onToggle, history: opts.historyFor(bot.id) }),
      ),
    );
  }

  function renderTrades(trades, el) {
    if (!trades || !trades.length) {
      el.replaceChildren(h("tr", {}, h("td", { colspan: 10, class: "empty muted" }, "No trades yet.")));
      return;
    }
    el.replaceChildren(
      ...trades.map((t) => {
        const filled = F.signOf(t.filled_base_size) > 0;
        const size = filled
          ? F.formatSize(t.filled_base_size)
          : t.requested_base_size
            ? `${F.formatSize(t.requested_base_size)} req.`
            : t.requested_quote_size
              ? `$${F.formatMoney(t.requested_quote_size)} req.`
              : DASH;
        const mode = String(t.mode || "").toLowerCase();
        return h(
          "tr",
          { class: mode === "production" ? "row-production" : "", dataset: { tradeId: String(t.id) } },
          h("td", { title: t.created_at || null }, F.formatTime(t.created_at)),
          h("td", {}, t.bot_name || `#${t.bot_id}`, h("span", { class: "muted" }, ` ${t.pair || ""}`)),
          h("td", { class: `side side-${t.side}` }, String(t.side || DASH).toUpperCase()),
          h("td", {}, t.intent || DASH),
          h(
            "td",
            { title: t.failure_reason || null },
            h("span", { class: `status status-${String(t.status).toLowerCase()}` }, t.status || DASH),
            t.failure_reason ? h("div", { class: "failure muted" }, t.failure_reason) : null,
          ),
          h("td", { class: "num" }, size),
          h("td", { class: "num" }, t.average_fill_price ? F.formatPrice(t.average_fill_price) : DASH),
          h("td", { class: "num" }, filled ? `$${F.formatMoney(t.filled_value)}` : DASH),
          h("td", { class: "num" }, t.fees === null || t.fees === undefined ? DASH : `$${F.formatMoney(t.fees)}`),
          h("td", {}, h("span", { class: `badge badge-small mode-${mode}` }, mode.toUpperCase() || DASH)),
        );
      }),
    );
  }

  global.CoinpilotRender = { h, renderStatus, renderSafety, renderTotals, renderBots, renderTrades, sparkline };
})(window);

/* Coinpilot dashboard: the trade page (/trades/{id}): the signal and confirmation that caused
 * the trade, the safety decision with every check, the status history with times, each fill,
 * the position before and after, and the realised P&L. Pure view code. */
"use strict";

(function (global) {
  const F = global.CoinpilotFormat;
  const D = global.CoinpilotDom;
  const { h, pnl, field, usd, table } = D;
  const DASH = F.DASH;

  function signalCard(t) {
    const snap = t.signal_snapshot || {};
    const signals = snap.signals || snap.breakdown || [];
    const conf = t.confirmation_snapshot;
    const rows = signals.map((s) =>
      h("tr", {}, h("td", {}, s.name || DASH), h("td", {}, s.status || DASH), h("td", { class: "num" }, F.formatScore(s.score)), h("td", { class: "num" }, F.formatScore(s.contribution))),
    );
    return h(
      "div",
      { class: "card", id: "trade-signal" },
      h("h2", {}, "What caused it"),
      t.signal_snapshot
        ? h("p", {}, "Score ", h("strong", { class: "num" }, F.formatScore(snap.score)), ` \u00b7 action ${snap.action || DASH}`, t.temperature ? ` \u00b7 ${t.temperature}` : "", snap.decision ? ` \u00b7 ${snap.decision}` : "")
        : h("p", { class: "muted" }, `No signal: a ${t.intent} trade.`),
      signals.length ? table("signals", ["Signal", "Status", { label: "Score", num: true }, { label: "Contrib.", num: true }], rows) : null,
      conf
        ? h("p", {}, `Confirmation: ${String(conf.action || DASH).toUpperCase()} held ${F.formatDuration(conf.elapsed_seconds)} of ${F.formatDuration(conf.required_seconds)}${conf.confirmed ? " (confirmed)" : ""}`)
        : h("p", { class: "muted" }, "No confirmation recorded."),
    );
  }

  function safetyCard(safety) {
    if (!safety) return h("div", { class: "card", id: "trade-safety" }, h("h2", {}, "Safety decision"), h("p", { class: "muted" }, "No decision recorded."));
    const refusedCodes = new Set((safety.reasons || []).map((r) => String(r.code || "").toLowerCase()));
    const rows = (safety.checks || []).map((c) =>
      h("tr", { class: "check-row" }, h("td", {}, h("code", {}, c)), h("td", {}, safety.allowed || !refusedCodes.size ? h("span", { class: "status status-settled" }, "passed") : h("span", { class: "muted" }, "ran"))),
    );
    const ctx = safety.context || {};
    const inputs = ["trades_today_total", "trades_today_bot", "last_fill_at", "position_tranches", "position_cost", "total_exposure", "realized_pnl_today", "consecutive_losses", "quote_available"]
      .filter((k) => k in ctx)
      .map((k) => field(k.replaceAll("_", " "), h("span", { class: "num" }, ctx[k] === null ? DASH : String(ctx[k]))));
    return h(
      "div",
      { class: "card", id: "trade-safety" },
      h("h2", {}, "Safety decision"),
      h("p", {}, h("span", { class: safety.allowed ? "status status-settled" : "status status-failed" }, safety.allowed ? "ALLOWED" : "REFUSED"), ` at ${F.formatTime(safety.at)} \u00b7 ${(safety.checks || []).length} checks`),
      (safety.reasons || []).length ? h("ul", { class: "reasons" }, safety.reasons.map((r) => h("li", {}, h("code", {}, r.code), ` ${r.message}`))) : null,
      table("checks", ["Check", "Result"], rows, "No checks listed."),
      inputs.length ? h("details", {}, h("summary", {}, "What the check saw"), h("dl", { class: "fields" }, inputs)) : null,
    );
  }

  function positionChange(before, after, inc) {
    const show = (p) =>
      p ? `${F.formatSizeAt(p.base_size, inc.base_increment)} @ ${p.avg_entry_price ? F.formatPriceAt(p.avg_entry_price, inc.quote_increment) : DASH} (cost ${F.formatUsd(p.cost)})` : DASH;
    return h("dl", { class: "fields" }, field("Before", h("span", { class: "num" }, show(before))), field("After", h("span", { class: "num" }, show(after))));
  }

  function renderTradePage(data, el, opts) {
    const t = data.trade;
    const inc = (opts.products || {})[t.pair] || {};
    const fills = (t.fills || []).map((f) =>
      h(
        "tr",
        { class: "fill-row" },
        h("td", {}, F.formatTime(f.time)),
        h("td", { class: "num" }, F.formatPriceAt(f.price, inc.quote_increment)),
        h("td", { class: "num" }, F.formatSizeAt(f.base_size, inc.base_increment)),
        h("td", { class: "num" }, F.formatUsd(f.fee)),
        h("td", {}, f.liquidity || DASH),
      ),
    );
    const history = (t.status_history || []).map((s) => h("tr", {}, h("td", {}, F.formatTime(s.at)), h("td", {}, h("span", { class: `status status-${String(s.status).toLowerCase()}` }, s.status)), h("td", { class: "muted" }, s.note || "")));
    const parts = [
      h("p", {}, D.link("/", "\u2190 Overview"), " \u00b7 ", D.link(`/bots/${t.bot_id}`, `bot ${data.bot_name || `#${t.bot_id}`}`)),
      h(
        "header",
        { class: "page-head" },
        h("h2", { class: "page-title" }, `Trade #${t.id}`),
        h("span", { class: `side side-${t.side}` }, String(t.side).toUpperCase()),
        h("span", {}, t.intent),
        h("span", { class: `status status-${String(t.status).toLowerCase()}` }, t.status),
        h("span", { class: `badge badge-small mode-${String(t.mode).toLowerCase()}` }, String(t.mode).toUpperCase()),
        h("span", { class: "pair" }, t.pair),
      ),
      t.failure_reason ? h("p", { class: "last-error" }, t.failure_reason) : null,
      h(
        "section",
        { class: "overview" },
        h(
          "div",
          { class: "card" },
          h("h2", {}, "Result"),
          h(
            "dl",
            { class: "fields" },
            field("Requested", h("span", { class: "num" }, t.requested_quote_size ? F.formatUsd(t.requested_quote_size) : `${F.formatSizeAt(t.requested_base_size, inc.base_increment)} ${t.pair.split("-")[0]}`)),
            field("Filled", h("span", { class: "num" }, F.formatSizeAt(t.filled_base_size, inc.base_increment))),
            field("Avg price", h("span", { class: "num" }, t.average_fill_price ? F.formatPriceAt(t.average_fill_price, inc.quote_increment) : DASH)),
            field("Value", usd(t.filled_value)),
            field("Fees", usd(t.fees)),
            field("Realised P&L", data.realized_pnl === null ? h("span", { class: "muted" }, "none (an entry)") : pnl(data.realized_pnl)),
            field("Order", h("code", { class: "small" }, t.order_id || DASH)),
            field("Client id", h("code", { class: "small" }, t.client_order_id)),
          ),
          h("h3", { class: "sub" }, "Position"),
          positionChange(data.position_before, data.position_after, inc),
        ),
        signalCard(t),
        safetyCard(data.safety),
      ),
      h("section", { class: "card wide", id: "trade-fills" }, h("h2", {}, `Fills (${fills.length})`), table("fills", ["Time", { label: "Price", num: true }, { label: "Size", num: true }, { label: "Fee", num: true }, "Liquidity"], fills, "No fills.")),
      h("section", { class: "card wide" }, h("h2", {}, "Status history"), table("history", ["Time", "Status", "Note"], history, "No history.")),
    ];
    el.replaceChildren(...parts.filter(Boolean));
  }

  global.CoinpilotTradePage = { renderTradePage };
})(window);

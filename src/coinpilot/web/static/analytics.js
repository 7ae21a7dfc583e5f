/* Coinpilot analytics page (/analytics): one column per mode (mock, production, backtest), never
 * summed; equity curve as an SVG drawn with DOM calls (no inline script or style: CSP-clean). */
"use strict";

(function () {
  const API = window.CoinpilotApi;
  const F = window.CoinpilotFormat;
  const byId = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  let lastReport = null;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function pnlCell(text) {
    const sign = F.signOf(text);
    return el("td", { class: "num" + (sign > 0 ? " pos" : sign < 0 ? " neg" : "") }, F.formatUsd(text, true));
  }

  function row(label, cell) {
    const tr = el("tr");
    tr.append(el("th", { scope: "row" }, label), cell);
    return tr;
  }

  function curveSvg(points) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "curve");
    svg.setAttribute("viewBox", "0 0 100 100");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `cumulative realised P&L, ${points.length} exits`);
    if (points.length === 0) return svg;
    const values = [0, ...points.map((p) => Number(p.pnl))];
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const span = hi - lo || 1;
    const y = (v) => (100 - ((v - lo) / span) * 96 - 2).toFixed(2);
    const x = (i) => ((i / (values.length - 1 || 1)) * 100).toFixed(2);
    const zero = document.createElementNS(SVG, "line");
    zero.setAttribute("x1", "0");
    zero.setAttribute("x2", "100");
    zero.setAttribute("y1", y(0));
    zero.setAttribute("y2", y(0));
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", values.map((v, i) => `${x(i)},${y(v)}`).join(" "));
    svg.append(zero, line);
    return svg;
  }

  function breakdown(title, entries) {
    const table = el("table", { class: "breakdown" });
    const head = el("tr");
    head.append(el("th", {}, title), el("th", { class: "num" }, "P&L"));
    table.append(head);
    if (entries.length === 0) {
      const tr = el("tr");
      tr.append(el("td", { colspan: "2", class: "muted" }, "no exits yet"));
      table.append(tr);
    }
    for (const [k, v] of entries) {
      const tr = el("tr");
      tr.append(el("td", {}, k), pnlCell(v));
      table.append(tr);
    }
    return table;
  }

  function modeCard(name, data, period) {
    const card = el("article", { class: "card mode-card", "data-mode": name });
    card.append(el("h2", {}, name.toUpperCase()));
    if (!data) {
      card.append(el("p", { class: "muted" }, "Nothing recorded yet."));
      return card;
    }
    const s = data.stats;
    const stats = el("table", { class: "stats-table" });
    stats.append(
      row("Realised P&L", pnlCell(s.total_pnl)),
      row("Exits", el("td", { class: "num" }, String(s.count))),
      row("Win rate", el("td", { class: "num" }, s.win_rate === null ? F.DASH : `${(s.win_rate * 100).toFixed(1)}%`)),
      row("Average win", pnlCell(s.average_win)),
      row("Average loss", pnlCell(s.average_loss)),
      row("Profit factor", el("td", { class: "num" }, s.profit_factor === null ? F.DASH : s.profit_factor.toFixed(2))),
      row("Expectancy per exit", pnlCell(s.expectancy)),
      row("Fees paid", el("td", { class: "num" }, F.formatUsd(data.fees))),
      row("Max drawdown", el("td", { class: "num" + (F.signOf(data.drawdown.max) > 0 ? " neg" : "") }, F.formatUsd(data.drawdown.max))),
    );
    card.append(stats, el("h3", {}, "Cumulative realised P&L"), curveSvg(data.equity_curve));
    card.append(
      breakdown("Bot", Object.entries(data.pnl_by_bot)),
      breakdown("Exit reason", Object.entries(data.pnl_by_exit_reason)),
      breakdown(period[0].toUpperCase() + period.slice(1), Object.entries(data.pnl_by_period[period]).reverse()),
    );
    const links = el("p", { class: "row small" });
    links.append(
      el("a", { href: `/api/v1/export/trades.csv?mode=${name}`, download: "" }, "Trades CSV"),
      el("a", { href: `/api/v1/export/fills.csv?mode=${name}`, download: "" }, "Fills CSV"),
    );
    card.append(links);
    return card;
  }

  function pct(value) {
    if (value === null || value === undefined) return F.DASH;
    const v = value * 100;
    return `${v > 0 ? "+" : v < 0 ? "−" : ""}${Math.abs(v).toFixed(2)}%`;
  }

  function ratio(value) {
    return value === null || value === undefined ? F.DASH : Number(value).toFixed(2);
  }

  /* Backtests are simulations: one row per stored run, each standing alone (never summed with
   * each other or with mock/production), with a link to the run's own HTML report. */
  function backtestCard(data) {
    const card = el("article", { class: "card mode-card", "data-mode": "backtest" });
    card.append(el("h2", {}, "BACKTEST"));
    if (!data || !data.runs || data.runs.length === 0) {
      card.append(el("p", { class: "muted" }, "No backtest runs stored yet (coinpilot backtest, or POST /api/v1/backtests)."));
      return card;
    }
    card.append(el("p", { class: "muted small" }, data.basis));
    const when = (t) => (t ? String(t).slice(0, 10) : "?");
    for (const run of data.runs) {
      const s = run.summary || {};
      const block = el("section", { class: "backtest-run", "data-run": String(run.id) });
      const title = el("h3");
      title.append(el("a", { href: run.report_url }, `#${run.id} ${run.label || run.pair}`));
      block.append(
        title,
        el("p", { class: "muted small" }, `${run.pair} ${run.granularity} · ${when(s.period_start)} → ${when(s.period_end)}`),
      );
      const stats = el("table", { class: "stats-table" });
      const signed = (v) => el("td", { class: "num" + (v > 0 ? " pos" : v < 0 ? " neg" : "") }, pct(v));
      stats.append(
        row("Return", signed(s.total_return)),
        row("Buy and hold", signed(s.buy_and_hold_return)),
        row("Max drawdown", el("td", { class: "num" + (s.max_drawdown > 0 ? " neg" : "") }, pct(s.max_drawdown ? -s.max_drawdown : 0))),
        row("Sharpe", el("td", { class: "num" }, ratio(s.sharpe))),
        row("Trades", el("td", { class: "num" }, String(s.trades ?? F.DASH))),
        row("Win rate", el("td", { class: "num" }, s.win_rate === null || s.win_rate === undefined ? F.DASH : `${(s.win_rate * 100).toFixed(1)}%`)),
        row("Fees paid", el("td", { class: "num" }, F.formatUsd(s.fees_paid))),
      );
      block.append(stats);
      card.append(block);
    }
    return card;
  }

  function render() {
    const root = byId("modes");
    root.replaceChildren();
    if (!lastReport) return;
    const period = byId("period").value;
    byId("basis").textContent = lastReport.basis;
    for (const [name, data] of Object.entries(lastReport.modes)) root.append(modeCard(name, data, period));
    root.append(backtestCard(lastReport.backtest));
  }

  async function load() {
    const bot = byId("bot-filter").value;
    const r = await API.request("GET", "/analytics" + (bot ? `?bot_id=${bot}` : ""));
    if (!r.ok) {
      byId("modes").replaceChildren(el("p", { class: "message message-error" }, API.describe(r)));
      return;
    }
    lastReport = r.body;
    render();
  }

  async function accuracy() {
    const bot = byId("acc-bot").value;
    const out = byId("accuracy");
    if (!bot) return;
    const r = await API.request("GET", `/analytics/signal-accuracy/${bot}?horizon=${byId("acc-horizon").value}`);
    if (!r.ok) {
      out.replaceChildren(el("p", { class: "message message-error" }, API.describe(r)));
      return;
    }
    const table = el("table", { class: "breakdown", id: "accuracy-table" });
    const head = el("tr");
    head.append(el("th", {}, "Signal"), el("th", { class: "num" }, "Calls"), el("th", { class: "num" }, "Right"), el("th", { class: "num" }, "Accuracy"));
    table.append(head);
    for (const s of r.body.signals) {
      const tr = el("tr");
      tr.append(
        el("td", {}, s.signal),
        el("td", { class: "num" }, String(s.calls)),
        el("td", { class: "num" }, String(s.correct)),
        el("td", { class: "num" }, s.accuracy === null ? F.DASH : `${(s.accuracy * 100).toFixed(1)}%`),
      );
      table.append(tr);
    }
    out.replaceChildren(
      el("p", { class: "muted small" }, `${r.body.evaluations} evaluations, ${r.body.horizon_candles} candles ahead (${r.body.granularity})`),
      table,
    );
  }

  async function start() {
    const bots = await API.request("GET", "/bots");
    if (bots.ok) {
      for (const b of bots.body) {
        byId("bot-filter").append(el("option", { value: String(b.id) }, `${b.name} (${b.pair})`));
        byId("acc-bot").append(el("option", { value: String(b.id) }, `${b.name} (${b.pair})`));
      }
    }
    byId("bot-filter").addEventListener("change", load);
    byId("period").addEventListener("change", render);
    byId("acc-run").addEventListener("click", accuracy);
    await load();
  }

  document.addEventListener("DOMContentLoaded", start);
})();

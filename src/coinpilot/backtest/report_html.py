"""One self-contained HTML file per backtest: opens offline, from a mail attachment or a USB stick.

The vendored Lightweight Charts build (the dashboard's own copy, ``web/static/vendor``) and the
report's data are inlined in ``<script>`` elements; nothing is fetched (no CDN, no font, no
image). It shows the price with one marker per fill, the average entry and the stop-loss level
while a position is open, then the equity beside buy-and-hold, and the drawdown. The figures and
breakdown tables are plain HTML, so the page is readable even with scripts disabled.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from decimal import Decimal
from importlib import resources
from typing import Any

import numpy as np

from coinpilot.backtest.metrics import BacktestMetrics, buy_and_hold_curve, compute, duration_text
from coinpilot.backtest.report import fill_indices, thin, to_dict
from coinpilot.backtest.result import BacktestResult
from coinpilot.domain.decision import effective_strategy
from coinpilot.domain.levels import stop_loss_price
from coinpilot.domain.types import Side

CHART_POINTS = 5000  # price and equity lines are thinned to about this many points (plus fills)


def _vendored_charts_js() -> str:
    text = (
        resources.files("coinpilot.web")
        .joinpath("static/vendor/lightweight-charts.standalone.production.js")
        .read_text(encoding="utf-8")
    )
    return text.replace("</script", "<\\/script")  # cannot end the inline element early


def _script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</``, no HTML comment opener)."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


def position_lines(result: BacktestResult) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Average entry (fees included, as the engine measures stops) and the stop-loss price at
    each fill that changes them; a point with no value ends the line while flat."""
    strategy = effective_strategy(result.spec.strategy_raw, result.spec.bot)
    stop_pct = strategy.stop_loss_pct
    held, cost = Decimal(0), Decimal(0)
    dust = result.spec.product.base_min_size
    avg_line: list[dict[str, float]] = []
    stop_line: list[dict[str, float]] = []
    starts = result.timestamps
    last: tuple[float, float | None] | None = None  # (average, stop) while a position is open
    for fill, i in zip(result.fills, fill_indices(result), strict=True):
        t = int(starts[int(i)])
        if fill.side == Side.BUY:
            held += fill.base_size
            cost += fill.quote_value + fill.fee
        else:
            average = cost / held if held > 0 else Decimal(0)
            sold = min(fill.base_size, held)
            cost -= average * sold
            held -= sold
        if held > 0 and not held < dust:
            avg = cost / held
            stop = float(stop_loss_price(avg, stop_pct)) if stop_pct is not None else None
            last = (float(avg), stop)
            avg_line.append({"time": t, "value": last[0]})
            if stop is not None:
                stop_line.append({"time": t, "value": stop})
        elif last is not None:
            # hold the last level up to the closing fill, then end the line on the next candle
            avg_line.append({"time": t, "value": last[0]})
            if last[1] is not None:
                stop_line.append({"time": t, "value": last[1]})
            if int(i) + 1 < len(starts):
                after = int(starts[int(i) + 1])
                avg_line.append({"time": after})
                if last[1] is not None:
                    stop_line.append({"time": after})
            last = None
    return _last_per_time(avg_line), _last_per_time(stop_line)


def _last_per_time(points: list[dict[str, float]]) -> list[dict[str, float]]:
    """Lightweight Charts needs strictly increasing times: keep the last point of each time."""
    out: dict[float, dict[str, float]] = {}
    for p in points:
        out[p["time"]] = p
    return [out[k] for k in sorted(out)]


def chart_data(result: BacktestResult, m: BacktestMetrics) -> dict[str, Any]:
    g = result.granularity_seconds
    fill_idx = fill_indices(result)
    idx = thin(len(result.close), CHART_POINTS, tuple(int(i) for i in fill_idx))
    starts = np.asarray(result.timestamps, dtype=np.int64)
    equity = np.asarray(result.equity, dtype=np.float64)
    peaks = (
        np.maximum.accumulate(np.maximum(equity, float(result.spec.starting_cash))) if equity.size else equity
    )
    drawdown = np.where(peaks > 0, equity / np.where(peaks > 0, peaks, 1) - 1.0, 0.0) * 100
    hold = buy_and_hold_curve(result)
    markers = []
    for fill, i in zip(result.fills, fill_idx, strict=True):
        buy = fill.side == Side.BUY
        label = f"T{fill.tranche + 1}" if buy and fill.tranche is not None else fill.intent.value
        markers.append(
            {
                "time": int(starts[int(i)]),
                "position": "belowBar" if buy else "aboveBar",
                "color": "#16a34a" if buy else "#dc2626",
                "shape": "arrowUp" if buy else "arrowDown",
                "text": f"{'B' if buy else 'S'} {label}",
            }
        )
    avg_line, stop_line = position_lines(result)
    # equity is marked at the close; the charts share the candle-start axis so markers line up
    return {
        "price": [{"time": int(starts[i]), "value": float(result.close[i])} for i in idx],
        "equity": [{"time": int(starts[i]), "value": round(float(equity[i]), 6)} for i in idx],
        "hold": [{"time": int(starts[i]), "value": round(float(hold[i]), 6)} for i in idx],
        "drawdown": [{"time": int(starts[i]), "value": round(float(drawdown[i]), 6)} for i in idx],
        "markers": markers,
        "avg_entry": avg_line,
        "stop": stop_line,
        "granularity_seconds": g,
    }


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:16px;color:#1c2128;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}.muted{color:#57606a}
table{border-collapse:collapse;margin:4px 0 12px}
td,th{padding:3px 10px;border-bottom:1px solid #dde1e7;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.chart{height:360px;margin:8px 0}.small{height:200px}
@media (prefers-color-scheme: dark){body{background:#0d1117;color:#e6edf3}
td,th{border-color:#30363d}.muted{color:#8b949e}}
"""

_SCRIPT = """
(function(){
  const data = JSON.parse(document.getElementById('backtest-data').textContent);
  const LC = window.LightweightCharts;
  if (!LC) return;
  const dark = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
  const text = dark ? '#e6edf3' : '#1c2128', grid = dark ? '#30363d' : '#dde1e7';
  function make(id){
    return LC.createChart(document.getElementById(id), {autoSize: true,
      layout: {background: {color: 'transparent'}, textColor: text, attributionLogo: false},
      grid: {vertLines: {color: grid}, horzLines: {color: grid}},
      timeScale: {timeVisible: data.granularity_seconds < 86400, secondsVisible: false,
        minBarSpacing: 0.001}});
  }
  const price = make('price-chart');
  const line = price.addSeries(LC.LineSeries, {color: '#2563eb', lineWidth: 1, title: 'close'});
  line.setData(data.price);
  const markers = LC.createSeriesMarkers(line, data.markers);
  document.getElementById('price-chart').dataset.markerCount = String(markers.markers().length);
  if (data.avg_entry.length) price.addSeries(LC.LineSeries, {color: '#7c3aed', lineWidth: 1, lineType: 1,
    title: 'average entry', priceLineVisible: false, lastValueVisible: false}).setData(data.avg_entry);
  if (data.stop.length) price.addSeries(LC.LineSeries, {color: '#dc2626', lineWidth: 1, lineStyle: 2,
    lineType: 1,
    title: 'stop', priceLineVisible: false, lastValueVisible: false}).setData(data.stop);
  const eq = make('equity-chart');
  eq.addSeries(LC.LineSeries, {color: '#16a34a', lineWidth: 2, title: 'equity'}).setData(data.equity);
  eq.addSeries(LC.LineSeries, {color: '#94a3b8', lineWidth: 1, title: 'buy and hold'}).setData(data.hold);
  const dd = make('drawdown-chart');
  dd.addSeries(LC.AreaSeries, {lineColor: '#dc2626', topColor: 'rgba(220,38,38,0.05)',
    bottomColor: 'rgba(220,38,38,0.35)', lineWidth: 1, title: 'drawdown %'}).setData(data.drawdown);
  const charts = [price, eq, dd];
  charts.forEach(function(c){ c.timeScale().subscribeVisibleLogicalRangeChange(function(r){
    if (!r) return;
    charts.forEach(function(o){ if (o !== c) o.timeScale().setVisibleLogicalRange(r); }); }); });
  charts.forEach(function(c){ c.timeScale().fitContent(); });
})();
"""


def _table(headers: list[str], rows: list[list[str]], numeric: int = 1) -> str:
    head = "".join(
        f"<th{' class=n' if i >= numeric else ''}>{html.escape(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i >= numeric else ''}>{html.escape(c)}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def render(result: BacktestResult, m: BacktestMetrics | None = None) -> str:
    """The whole report page as one string."""
    m = m or compute(result)
    return render_document(to_dict(result, m), chart_data(result, m))


_CENTS = {"quote_spent", "fees", "fee", "pnl", "quote_value", "realised_pnl", "average_price", "price"}


def _cell(key: str, value: Any) -> str:
    """Money and prices to cents (the JSON keeps every digit); the rest as stored."""
    if value is not None and key in _CENTS:
        try:
            return f"{Decimal(str(value)):,.2f}"
        except ArithmeticError:
            return str(value)
    return _fmt(value)


def _rows(items: list[dict[str, Any]], keys: list[str]) -> list[list[str]]:
    return [[_cell(k, item.get(k)) for k in keys] for item in items]


_PERCENT_FIGURES = {"total_return", "cagr", "max_drawdown", "win_rate", "exposure", "buy_and_hold_return"}


def _summary_value(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key in _PERCENT_FIGURES:
        signed = key in ("total_return", "cagr", "buy_and_hold_return")
        return f"{float(value) * 100:+.2f} %" if signed else f"{float(value) * 100:.2f} %"
    if key.endswith("_seconds"):
        return duration_text(int(value))
    if key in ("starting_cash", "final_equity", "expectancy", "fees_paid", "buy_and_hold_final_equity"):
        return f"{Decimal(str(value)):,.2f}"
    return _fmt(value)


def render_document(report: dict[str, Any], chart: dict[str, Any]) -> str:
    """The page from a stored JSON report (:func:`report.to_dict`) and its :func:`chart_data`,
    so a run stored by the API is re-rendered without running it again."""
    summary = report["summary"]
    rows = [[k.replace("_", " "), _summary_value(k, v)] for k, v in summary.items()]
    bh = report.get("buy_and_hold")
    if bh:
        rows.append(
            ["buy and hold final equity", _summary_value("buy_and_hold_final_equity", bh.get("final_equity"))]
        )
    sections = [
        _table(["figure", "value"], rows),
        "<h2>Price, fills, average entry and stop</h2><div id=price-chart class=chart></div>",
        "<h2>Equity (green) and buy-and-hold (grey)</h2><div id=equity-chart class=chart></div>",
        "<h2>Drawdown</h2><div id=drawdown-chart class='chart small'></div>",
    ]
    tranches = [{**t, "tranche": int(t["tranche"]) + 1} for t in report.get("tranches") or []]
    if tranches:
        sections.append(
            "<h2>Entries by tranche</h2>"
            + _table(
                ["tranche", "entries", "spent", "fees", "average price"],
                _rows(tranches, ["tranche", "entries", "quote_spent", "fees", "average_price"]),
            )
        )
    exits = report.get("exit_reasons") or []
    if exits:
        sections.append(
            "<h2>Exits by reason</h2>"
            + _table(
                ["reason", "exits", "sold", "P&L", "fees", "wins", "losses"],
                _rows(exits, ["reason", "exits", "base_sold", "pnl", "fees", "wins", "losses"]),
            )
        )
    refusals = report.get("refusals_by_code") or {}
    if refusals:
        sections.append(
            "<h2>Orders the safety rules refused</h2>"
            + _table(["reason code", "count"], [[k, str(v)] for k, v in refusals.items()])
        )
    for period in ("month", "week", "day"):
        values = (report.get("pnl_by_period") or {}).get(period) or {}
        if values:
            sections.append(
                f"<h2>Realised P&amp;L by {period}</h2>"
                + _table([period, "P&L"], [[k, str(v)] for k, v in values.items()])
            )
    fills = report.get("fills") or []
    if fills:
        sections.append(
            f"<h2>Fills ({len(fills)})</h2>"
            + _table(
                ["time", "side", "reason", "price", "size", "value", "fee", "realised"],
                _rows(
                    fills,
                    ["at", "side", "reason", "price", "base_size", "quote_value", "fee", "realised_pnl"],
                ),
                numeric=3,
            )
        )
    label = report["spec"].get("label") or ""
    title = f"Backtest {report['pair']} {report['granularity']}" + (f" · {label}" if label else "")
    period = report["period"]
    return "".join(
        [
            "<!doctype html><html lang=en><head><meta charset=utf-8>",
            "<meta name=viewport content='width=device-width, initial-scale=1'>",
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            f"<p class=muted>{html.escape(str(period['start']))} → {html.escape(str(period['end']))} · "
            f"{period['candles']:,} candles ({period['warmup_candles']:,} warm-up) · "
            f"{period['gaps']} gaps ({period['missing_candles']:,} missing candles) · mode: backtest · "
            f"fee {html.escape(report['spec']['fee_rate'])}, "
            f"slippage {html.escape(report['spec']['slippage_bps'])} bps</p>",
            *sections,
            "<p class=muted>Charts: <a href='https://www.tradingview.com/lightweight-charts/' "
            "rel=noreferrer>TradingView Lightweight Charts</a> (Apache-2.0), inlined in this file.</p>",
            f"<script id=backtest-data type=application/json>{_script_json(chart)}</script>",
            f"<script>{_vendored_charts_js()}</script>",
            f"<script>{_SCRIPT}</script>",
            "</body></html>",
        ]
    )


def _hashes(page: str, tag: str) -> list[str]:
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode() + "'"
        for body in found
    ]


def content_security_policy(page: str) -> str:
    """A policy for serving ``page`` from the API: its own inline scripts and style (by hash)
    and nothing else; no connection, no frame, no form (the dashboard's policy forbids inline
    script, which a single-file report needs)."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(_hashes(page, "script")),
            "style-src " + " ".join(_hashes(page, "style")),
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )

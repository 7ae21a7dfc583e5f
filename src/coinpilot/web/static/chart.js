/* Coinpilot dashboard: the bot page's price chart, drawn with the vendored TradingView
 * Lightweight Charts (static/vendor/, Apache-2.0; refreshed by scripts/update_vendor.sh).
 *
 * Candles, a marker per trade (snapped to its candle), the protection levels as price lines
 * (average entry, stop-loss, trailing stop, take-profit rungs) and the indicators the bot's
 * signals use (moving averages on the price, RSI and MACD in their own panes). Indicator lines
 * are drawn for reading only: the bot's score comes from the server. */
"use strict";

(function (global) {
  const LC = global.LightweightCharts;
  const GRANULARITY_SECONDS = {
    ONE_MINUTE: 60,
    FIVE_MINUTE: 300,
    FIFTEEN_MINUTE: 900,
    THIRTY_MINUTE: 1800,
    ONE_HOUR: 3600,
    TWO_HOUR: 7200,
    SIX_HOUR: 21600,
    ONE_DAY: 86400,
  };

  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  function sma(values, n) {
    const out = new Array(values.length).fill(null);
    let sum = 0;
    values.forEach((v, i) => {
      sum += v;
      if (i >= n) sum -= values[i - n];
      if (i >= n - 1) out[i] = sum / n;
    });
    return out;
  }

  function ema(values, n) {
    const out = new Array(values.length).fill(null);
    const k = 2 / (n + 1);
    let prev = null;
    values.forEach((v, i) => {
      if (i === n - 1) prev = values.slice(0, n).reduce((a, b) => a + b, 0) / n;
      else if (i >= n) prev = v * k + prev * (1 - k);
      if (prev !== null) out[i] = prev;
    });
    return out;
  }

  function rsi(values, n) {
    const out = new Array(values.length).fill(null);
    let gain = 0;
    let loss = 0;
    for (let i = 1; i < values.length; i++) {
      const d = values[i] - values[i - 1];
      const g = Math.max(d, 0);
      const l = Math.max(-d, 0);
      if (i <= n) {
        gain += g / n;
        loss += l / n;
      } else {
        gain = (gain * (n - 1) + g) / n; // Wilder smoothing
        loss = (loss * (n - 1) + l) / n;
      }
      if (i >= n) out[i] = loss === 0 ? 100 : 100 - 100 / (1 + gain / loss);
    }
    return out;
  }

  const toLine = (times, values) => values.map((v, i) => (v === null ? null : { time: times[i], value: v })).filter(Boolean);

  function snap(tradeTime, times, step) {
    const t = Math.floor(Date.parse(tradeTime) / 1000 / step) * step;
    if (!times.length || t < times[0]) return null;
    return Math.min(t, times[times.length - 1]);
  }

  /** Draw (or redraw) the chart in `container`. Returns {chart, markers, shownTrades, outside}. */
  function drawBotChart(container, previous, candles, page) {
    if (previous) previous.chart.remove();
    container.replaceChildren();
    const bot = page.bot;
    const step = GRANULARITY_SECONDS[bot.granularity] || 3600;
    const times = candles.map((c) => Math.floor(Date.parse(c.time) / 1000));
    const closes = candles.map((c) => c.close);
    const text = cssVar("--text") || "#1c2128";
    const grid = cssVar("--border") || "#dde1e7";
    const chart = LC.createChart(container, {
      autoSize: true,
      // The library's own logo injects a <style> element, which a strict CSP blocks; the
      // attribution is a plain link under the chart instead (bot_page.js).
      layout: { background: { color: "transparent" }, textColor: text, panes: { separatorColor: grid }, attributionLogo: false },
      grid: { vertLines: { color: grid }, horzLines: { color: grid } },
      timeScale: { timeVisible: step < 86400, secondsVisible: false },
      rightPriceScale: { borderColor: grid },
    });
    const series = chart.addSeries(LC.CandlestickSeries, {
      upColor: "#16a34a",
      downColor: "#dc2626",
      wickUpColor: "#16a34a",
      wickDownColor: "#dc2626",
      borderVisible: false,
    });
    series.setData(candles.map((c, i) => ({ time: times[i], open: c.open, high: c.high, low: c.low, close: c.close })));

    const sig = bot.signal_config || {};
    const ma = sig.ma_crossover || sig.ma_cross;
    if (ma && ma.enabled !== false) {
      const avg = ma.ma_type === "ema" ? ema : sma;
      const fast = chart.addSeries(LC.LineSeries, { color: "#2563eb", lineWidth: 1, title: `${ma.ma_type || "sma"} ${ma.fast_period}`, priceLineVisible: false, lastValueVisible: false });
      fast.setData(toLine(times, avg(closes, ma.fast_period || 10)));
      const slow = chart.addSeries(LC.LineSeries, { color: "#d97706", lineWidth: 1, title: `${ma.ma_type || "sma"} ${ma.slow_period}`, priceLineVisible: false, lastValueVisible: false });
      slow.setData(toLine(times, avg(closes, ma.slow_period || 30)));
    }
    let pane = 1;
    if (sig.rsi && sig.rsi.enabled !== false) {
      const line = chart.addSeries(LC.LineSeries, { color: "#7c3aed", lineWidth: 1, title: `RSI ${sig.rsi.period || 14}` }, pane);
      line.setData(toLine(times, rsi(closes, sig.rsi.period || 14)));
      line.createPriceLine({ price: sig.rsi.oversold ?? 30, color: "#16a34a", lineStyle: LC.LineStyle.Dashed, lineWidth: 1, title: "oversold" });
      line.createPriceLine({ price: sig.rsi.overbought ?? 70, color: "#dc2626", lineStyle: LC.LineStyle.Dashed, lineWidth: 1, title: "overbought" });
      pane += 1;
    }
    if (sig.macd && sig.macd.enabled !== false) {
      const f = ema(closes, sig.macd.fast_period || 12);
      const s = ema(closes, sig.macd.slow_period || 26);
      const macd = f.map((v, i) => (v === null || s[i] === null ? null : v - s[i]));
      const start = macd.findIndex((v) => v !== null);
      const signal = new Array(macd.length).fill(null);
      if (start >= 0) ema(macd.slice(start), sig.macd.signal_period || 9).forEach((v, i) => (signal[start + i] = v));
      const hist = chart.addSeries(LC.HistogramSeries, { color: "#94a3b8", title: "MACD hist", priceLineVisible: false }, pane);
      hist.setData(macd.map((v, i) => (v === null || signal[i] === null ? null : { time: times[i], value: v - signal[i], color: v - signal[i] >= 0 ? "#16a34a" : "#dc2626" })).filter(Boolean));
      const line = chart.addSeries(LC.LineSeries, { color: "#2563eb", lineWidth: 1, title: "MACD", priceLineVisible: false }, pane);
      line.setData(toLine(times, macd));
    }

    // The price pane gets most of the height; indicator panes share the rest.
    const panes = typeof chart.panes === "function" ? chart.panes() : [];
    if (panes.length > 1 && typeof panes[0].setStretchFactor === "function") panes[0].setStretchFactor(2.5);

    // Protection levels, exactly as the server computed them from the engine's rules.
    const lv = page.levels || {};
    const priceLine = (price, color, title, style) => {
      if (price === null || price === undefined) return;
      series.createPriceLine({ price: Number(price), color, lineWidth: 1, lineStyle: style ?? LC.LineStyle.Dashed, axisLabelVisible: true, title });
    };
    priceLine(lv.avg_entry, "#2563eb", "avg entry", LC.LineStyle.Solid);
    priceLine(lv.stop_loss, "#dc2626", `stop-loss ${lv.stop_loss_pct ?? ""}%`);
    priceLine(lv.trailing_stop, "#ea580c", `trailing ${lv.trailing_stop_pct ?? ""}%`);
    (lv.take_profit || []).forEach((tp, i) => priceLine(tp.price, "#16a34a", `take-profit ${i + 1} (${tp.sell_pct}%)`));

    // One marker per trade (filled or not), on the candle it happened in.
    const trades = [...(page.trades || [])].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id);
    const markers = [];
    let outside = 0;
    for (const t of trades) {
      const time = snap(t.created_at, times, step);
      if (time === null) {
        outside += 1;
        continue;
      }
      const buy = t.side === "buy";
      markers.push({
        time,
        position: buy ? "belowBar" : "aboveBar",
        color: buy ? "#16a34a" : "#dc2626",
        shape: buy ? "arrowUp" : "arrowDown",
        text: `${buy ? "B" : "S"} #${t.id}`,
        id: String(t.id),
      });
    }
    const plugin = LC.createSeriesMarkers(series, markers);
    // The newest 150 candles, with room on the right so the latest markers clear the price axis.
    chart.timeScale().setVisibleLogicalRange({ from: Math.max(0, times.length - 150), to: times.length + 16 });
    container.dataset.markerCount = String(plugin.markers().length);
    container.dataset.candleCount = String(series.data().length);
    return { chart, plugin, shown: markers.length, outside };
  }

  global.CoinpilotChart = { drawBotChart, GRANULARITY_SECONDS };
})(window);

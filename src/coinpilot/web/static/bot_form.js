/* Coinpilot: create or edit a bot (/bots/new, /bots/{id}/edit).
 *
 * The server is the one judge of what is valid (the same checks as the API and the CLI): the
 * form sends what was typed and shows each 422 problem beside its field. Nothing is stored when
 * any problem is reported. No inline scripts or handlers (CSP); the token stays in this tab.
 */
"use strict";

(function () {
  const API = window.CoinpilotApi;
  const F = window.CoinpilotFormat;
  const byId = (id) => document.getElementById(id);
  const match = /^\/bots\/(\d+)\/edit\/?$/.exec(location.pathname);
  const botId = match ? Number(match[1]) : null;

  // kind: text | int | float | money (decimal string) | pct (decimal string, empty = off) | bool | select
  const GROUPS = [
    { legend: "Bot", error: null, fields: [
      { path: "name", label: "Name", kind: "text" },
      { path: "pair", label: "Pair", kind: "select", options: [], createOnly: true },
      { path: "description", label: "Description", kind: "text" },
      { path: "granularity", label: "Candles", kind: "select",
        options: ["ONE_MINUTE", "FIVE_MINUTE", "FIFTEEN_MINUTE", "THIRTY_MINUTE", "ONE_HOUR", "TWO_HOUR", "SIX_HOUR", "ONE_DAY"] },
    ] },
    { legend: "Thresholds and timing", error: null, fields: [
      { path: "buy_threshold", label: "Buy threshold (score ≥)", kind: "float", hint: "0 < x ≤ 1" },
      { path: "sell_threshold", label: "Sell threshold (score ≤ −)", kind: "float", hint: "0 < x ≤ 1" },
      { path: "confirmation_minutes", label: "Confirmation (minutes)", kind: "float" },
      { path: "cooldown_minutes", label: "Cooldown after a fill (minutes)", kind: "float" },
    ] },
    { legend: "Signals (weights of enabled signals sum to 1)", error: "signal_config", fields: [
      { path: "signal_config.rsi.enabled", label: "RSI on", kind: "bool" },
      { path: "signal_config.rsi.weight", label: "RSI weight", kind: "float" },
      { path: "signal_config.rsi.period", label: "RSI period", kind: "int" },
      { path: "signal_config.rsi.oversold", label: "RSI oversold", kind: "float" },
      { path: "signal_config.rsi.overbought", label: "RSI overbought", kind: "float" },
      { path: "signal_config.ma_crossover.enabled", label: "MA crossover on", kind: "bool" },
      { path: "signal_config.ma_crossover.weight", label: "MA weight", kind: "float" },
      { path: "signal_config.ma_crossover.fast_period", label: "MA fast period", kind: "int" },
      { path: "signal_config.ma_crossover.slow_period", label: "MA slow period", kind: "int" },
      { path: "signal_config.ma_crossover.ma_type", label: "MA type", kind: "select", options: ["sma", "ema"] },
      { path: "signal_config.macd.enabled", label: "MACD on", kind: "bool" },
      { path: "signal_config.macd.weight", label: "MACD weight", kind: "float" },
      { path: "signal_config.macd.fast_period", label: "MACD fast", kind: "int" },
      { path: "signal_config.macd.slow_period", label: "MACD slow", kind: "int" },
      { path: "signal_config.macd.signal_period", label: "MACD signal", kind: "int" },
      { path: "signal_config.min_data_weight", label: "Weight with data needed to act", kind: "float", hint: "0 < x ≤ 1 (1 = every signal)" },
    ] },
    { legend: "Sizing and exits", error: "strategy", fields: [
      { path: "trade_size_usd", label: "Trade size (USD per tranche)", kind: "money" },
      { path: "max_tranches", label: "Tranches per position", kind: "int" },
      { path: "strategy.sizing", label: "Sizing", kind: "select", options: ["fixed", "graduated", "pyramid"] },
      { path: "strategy.graduated_sizes", label: "Graduated sizes (USD)", kind: "pairs", hint: "warm:15, hot:35, conviction:50" },
      { path: "strategy.pyramid_factor", label: "Pyramid factor", kind: "money", hint: "0 < x ≤ 1" },
      { path: "strategy.dca_step_pct", label: "DCA step (% below last entry)", kind: "money" },
      { path: "strategy.take_profit_ladder", label: "Take-profit ladder", kind: "ladder", hint: "gain%:sell%, e.g. 10:30, 20:50" },
      { path: "strategy.stop_loss_pct", label: "Stop-loss (% below average entry)", kind: "pct", hint: "empty = none" },
      { path: "strategy.trailing_stop_pct", label: "Trailing stop (% below the high)", kind: "pct", hint: "empty = none" },
      { path: "strategy.exit_on_sell_signal", label: "Sell all on a confirmed SELL", kind: "bool" },
    ] },
  ];
  const FIELDS = GROUPS.flatMap((g) => g.fields);
  const inputs = new Map(); // path -> element
  const errorSlots = new Map(); // path -> <small>

  function domId(path) {
    return "f-" + path.replace(/[^a-z0-9]+/gi, "-");
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function build() {
    const root = byId("form-fields");
    for (const group of GROUPS) {
      const fs = el("fieldset");
      fs.append(el("legend", {}, group.legend));
      const grid = el("div", { class: "form-grid" });
      for (const f of group.fields) {
        if (f.createOnly && botId !== null) continue;
        const wrap = el("div", { class: "form-field" + (f.kind === "bool" ? " checkbox" : ""), "data-field": f.path });
        let input;
        if (f.kind === "select") {
          input = el("select", { id: domId(f.path), name: f.path });
          for (const o of f.options) input.append(el("option", { value: o }, o));
        } else if (f.kind === "bool") {
          input = el("input", { id: domId(f.path), name: f.path, type: "checkbox" });
        } else {
          const numeric = ["int", "float", "money", "pct"].includes(f.kind);
          input = el("input", { id: domId(f.path), name: f.path, type: numeric ? "number" : "text", autocomplete: "off" });
          if (numeric) input.setAttribute("step", "any");
        }
        const label = el("label", { for: domId(f.path) }, f.label);
        const err = el("small", { class: "field-error", id: "err-" + domId(f.path), role: "alert" });
        input.setAttribute("aria-describedby", err.id);
        if (f.kind === "bool") wrap.append(input, label, err);
        else wrap.append(label, input, err);
        if (f.hint) wrap.append(el("span", { class: "hint" }, f.hint));
        grid.append(wrap);
        inputs.set(f.path, input);
        errorSlots.set(f.path, err);
      }
      fs.append(grid);
      if (group.error) {
        const gerr = el("p", { class: "field-error group-error", id: "err-group-" + group.error, role: "alert" });
        fs.append(gerr);
        errorSlots.set(group.error, gerr);
      }
      root.append(fs);
    }
  }

  function get(obj, path) {
    return path.split(".").reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
  }

  function set(obj, path, value) {
    const keys = path.split(".");
    let o = obj;
    for (const k of keys.slice(0, -1)) o = o[k] || (o[k] = {});
    o[keys[keys.length - 1]] = value;
  }

  function fill(bot) {
    const source = { ...bot, strategy: bot.effective_strategy || bot.strategy || {} };
    for (const f of FIELDS) {
      const input = inputs.get(f.path);
      if (!input) continue;
      const v = get(source, f.path);
      if (f.kind === "bool") input.checked = Boolean(v);
      else if (f.kind === "ladder") input.value = (v || []).map((r) => `${r[0]}:${r[1]}`).join(", ");
      else if (f.kind === "pairs") input.value = Object.entries(v || {}).map(([k, x]) => `${k}:${x}`).join(", ");
      else if (v !== undefined && v !== null) input.value = String(v);
      else input.value = "";
    }
  }

  /** Form → request body; problems found before sending (unparseable ladder) go in `local`. */
  function collect(local) {
    const body = {};
    for (const f of FIELDS) {
      const input = inputs.get(f.path);
      if (!input) continue;
      const raw = f.kind === "bool" ? input.checked : input.value.trim();
      let value = raw;
      if (f.kind === "int" || f.kind === "float") {
        const n = Number(raw);
        value = raw === "" ? null : Number.isFinite(n) && (f.kind === "float" || Number.isInteger(n)) ? n : raw;
      } else if (f.kind === "money") {
        value = raw === "" ? null : raw;
      } else if (f.kind === "pct") {
        value = raw === "" ? null : raw;
      } else if (f.kind === "ladder" || f.kind === "pairs") {
        const parts = raw === "" ? [] : raw.split(",").map((p) => p.trim().split(":").map((x) => x.trim()));
        if (parts.some((p) => p.length !== 2 || p[0] === "" || p[1] === "")) {
          local.push({ path: f.path, msg: `write ${f.hint}` });
          continue;
        }
        value = f.kind === "ladder" ? parts : Object.fromEntries(parts);
      }
      set(body, f.path, value);
    }
    return body;
  }

  function clearErrors() {
    for (const slot of errorSlots.values()) slot.textContent = "";
    for (const input of inputs.values()) input.closest(".form-field").classList.remove("has-error");
    byId("form-error").hidden = true;
  }

  /** The field (or group) an error path belongs to: exact, then the longest known prefix. */
  function slotFor(path) {
    const clean = path.replace(/\[\d+\]/g, "");
    if (errorSlots.has(clean)) return clean;
    if (clean === "signal_config.weights") return "signal_config";
    let best = null;
    for (const key of errorSlots.keys()) {
      if (clean.startsWith(key + ".") && (!best || key.length > best.length)) best = key;
    }
    return best;
  }

  function showErrors(list) {
    const unplaced = [];
    for (const { path, msg } of list) {
      const key = slotFor(path);
      if (!key) {
        unplaced.push(`${path}: ${msg}`);
        continue;
      }
      const slot = errorSlots.get(key);
      slot.textContent = slot.textContent ? `${slot.textContent}; ${msg}` : msg;
      const input = inputs.get(key);
      if (input) input.closest(".form-field").classList.add("has-error");
      if (path === "signal_config.weights") {
        for (const [p, i] of inputs) if (p.endsWith(".weight")) i.closest(".form-field").classList.add("has-error");
      }
    }
    if (unplaced.length) {
      byId("form-error").textContent = unplaced.join("; ");
      byId("form-error").hidden = false;
    }
    const first = document.querySelector(".has-error input, .has-error select");
    if (first) first.focus();
  }

  function message(text, kind) {
    const m = byId("form-message");
    m.textContent = text;
    m.className = `message message-${kind}`;
    m.hidden = false;
  }

  async function submit(event) {
    event.preventDefault();
    clearErrors();
    const local = [];
    const body = collect(local);
    if (local.length) return showErrors(local);
    if (botId !== null) delete body.pair;
    byId("btn-save").disabled = true;
    const result = botId === null
      ? await API.request("POST", "/bots", body)
      : await API.request("PATCH", `/bots/${botId}`, body);
    byId("btn-save").disabled = false;
    if (result.ok) {
      if (botId === null) {
        location.assign(`/bots/${result.body.id}/edit?created=1`);
        return;
      }
      fill(result.body);
      showStatus(result.body);
      message(`Saved at ${F.formatTime(new Date())}`, "ok");
      return;
    }
    if (result.status === 422 && Array.isArray(result.body.detail)) {
      showErrors(result.body.detail.map((d) => ({ path: (d.loc || []).slice(1).join("."), msg: d.msg })));
      message("Nothing was saved: fix the fields marked in red", "error");
    } else if (result.status === 409 && result.body.field) {
      showErrors([{ path: result.body.field, msg: result.body.detail }]);
      message("Nothing was saved", "error");
    } else {
      message(`Nothing was saved: ${API.describe(result)}`, "error");
    }
  }

  function showStatus(bot) {
    const panel = byId("status-panel");
    panel.hidden = false;
    const reason = bot.status_reason ? ` — ${bot.status_reason}` : "";
    byId("status-text").textContent = `${bot.name} on ${bot.pair}: ${bot.status}${reason}`;
    const paused = bot.status === "PAUSED" || bot.status === "ERROR";
    byId("btn-resume").hidden = !paused;
    byId("status-consequence").textContent = paused
      ? "Resume: the engine evaluates this bot again and may trade while trading is enabled; every safety limit still applies."
      : "Delete is refused while the bot holds a position or has an unfinished order; a bot with trade history is archived instead (it must be stopped; its trades are kept).";
  }

  async function resume() {
    if (!window.confirm("Resume this bot? It may trade again within the safety limits.")) return;
    const r = await API.request("POST", `/bots/${botId}/start`);
    if (r.ok) {
      showStatus(r.body);
      message("Bot resumed", "ok");
    } else message(`Not resumed: ${API.describe(r)}`, "error");
  }

  async function remove() {
    if (!window.confirm("Delete this bot? A bot with trade history is archived instead: it leaves the overview and never runs again, and its trades are kept.")) return;
    const r = await API.request("DELETE", `/bots/${botId}`);
    if (r.ok && r.body && r.body.archived) {
      message("Archived: the bot had trade history, which is kept (analytics, exports, audit).", "ok");
      setTimeout(() => location.assign("/"), 1500);
    } else if (r.ok) location.assign("/");
    else message(`Not deleted: ${API.describe(r)}`, "error");
  }

  async function start() {
    build();
    API.bindTokenForm(byId("token-form"), byId("token-input"), byId("token-state"));
    byId("bot-form").addEventListener("submit", submit);
    byId("btn-resume").addEventListener("click", resume);
    byId("btn-delete").addEventListener("click", remove);
    // Saving waits for the form to hold its starting values (the defaults or the bot's own):
    // a click in between would send a half-filled form.
    const save = byId("btn-save");
    save.disabled = true;
    const ready = () => {
      save.disabled = false;
      byId("bot-form").dataset.ready = "true";
    };
    const pairs = await API.request("GET", "/bots/pairs");
    if (pairs.ok) {
      const badge = byId("mode-badge");
      badge.textContent = pairs.body.mode.toUpperCase();
      badge.className = `badge mode-${pairs.body.mode}`;
      const select = inputs.get("pair");
      if (select) for (const p of pairs.body.pairs) select.append(el("option", { value: p }, p));
    }
    if (botId === null) {
      byId("form-title").textContent = "New bot";
      const defaults = await API.request("GET", "/bots/defaults");
      if (defaults.ok) fill(defaults.body);
      ready();
      return;
    }
    const bot = await API.request("GET", `/bots/${botId}`);
    if (!bot.ok) {
      message(`Cannot load bot ${botId}: ${API.describe(bot)}`, "error");
      return;
    }
    byId("form-title").textContent = `Edit ${bot.body.name}`;
    fill(bot.body);
    ready();
    showStatus(bot.body);
    if (new URLSearchParams(location.search).has("created")) message(`Created ${bot.body.name} (STOPPED)`, "ok");
  }

  document.addEventListener("DOMContentLoaded", start);
})();

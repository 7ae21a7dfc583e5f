/* Coinpilot dashboard: DOM building blocks shared by every view.
 *
 * Everything is built with createElement/textContent (names and error texts never become HTML).
 * Styles are set through the CSSOM (element.style.x = ...), never as style="..." text, so the
 * page works under a Content-Security-Policy without 'unsafe-inline'.
 */
"use strict";

(function (global) {
  const F = global.CoinpilotFormat;
  const SVG_NS = "http://www.w3.org/2000/svg";

  /** h("div", {class: "x", style: {width: "10%"}}, child, "text", …) */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "dataset") Object.assign(el.dataset, value);
      else if (key === "style") Object.assign(el.style, value);
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

  function pnlClass(text) {
    const sign = F.signOf(text);
    return sign > 0 ? "pos" : sign < 0 ? "neg" : "";
  }

  /** Signed money, coloured by sign. */
  function pnl(text) {
    return h("span", { class: `num ${pnlClass(text)}` }, F.formatPnl(text));
  }

  function usd(text, signed) {
    return h("span", { class: `num ${signed ? pnlClass(text) : ""}` }, F.formatUsd(text, signed));
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
    bar.append(h("div", { class: "meter-fill", style: { width: pct(fraction) } }));
    return bar;
  }

  const level = (f) => (f >= 0.9 ? "danger" : f >= 0.6 ? "warn" : "ok");

  function field(label, ...value) {
    return h("div", { class: "field" }, h("dt", {}, label), h("dd", {}, ...value));
  }

  /** A table with the given header cells ("Name" or {label, num: true}) and rows of cells. */
  function table(cls, headers, rows, empty) {
    const head = h(
      "tr",
      {},
      headers.map((c) => (typeof c === "string" ? h("th", {}, c) : h("th", { class: c.num ? "num" : "" }, c.label))),
    );
    const body = rows.length
      ? rows
      : [h("tr", {}, h("td", { colspan: headers.length, class: "empty muted" }, empty || "None."))];
    return h("div", { class: "table-wrap" }, h("table", { class: `grid ${cls || ""}` }, h("thead", {}, head), h("tbody", {}, body)));
  }

  /** Temperature as text and colour (no emoji font needed): a dot, the level, the distance. */
  function temperature(t, muted) {
    if (!t) return h("span", { class: "temperature muted" }, h("span", { class: "temp-level" }, F.DASH));
    const dist = typeof t.distance_to_action === "number" ? t.distance_to_action.toFixed(2) : F.DASH;
    const toward = t.leaning && t.leaning !== "hold" ? ` from ${t.leaning}` : " from action";
    return h(
      "span",
      { class: `temperature temp-${t.level || "none"} ${muted ? "temp-muted" : ""}`, title: `${dist}${toward}` },
      h("span", { class: "temp-dot", "aria-hidden": "true" }),
      h("span", { class: "temp-level" }, t.level || F.DASH),
      h("span", { class: "muted temp-distance" }, ` \u00b7 ${dist}${toward}`),
    );
  }

  /** A link inside the single-page app (app.js routes clicks on a[data-route]). */
  function link(href, ...children) {
    return h("a", { href, dataset: { route: "1" } }, ...children);
  }

  global.CoinpilotDom = { h, svg, clamp01, pct, pnl, pnlClass, usd, meter, level, field, table, temperature, link };
})(window);

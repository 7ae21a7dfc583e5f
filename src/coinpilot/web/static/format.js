/* Coinpilot dashboard: formatting helpers.
 *
 * Money and sizes arrive as decimal strings. They are parsed into exact BigInt units with a
 * decimal scale, rounded with BigInt arithmetic and formatted back to strings: never through
 * binary floats, so "1234567.895" shows as "1,234,567.90", not "…89".
 * Ratios for bar widths are the only values converted to Number (display only).
 */
"use strict";

(function (global) {
  const DASH = "\u2014"; // shown for null / missing values
  const MINUS = "\u2212";

  /** Parse "12.30", "-0.05", "1E+2", "0E-8" into {units: BigInt, scale: int}, or null. */
  function parseDecimal(text) {
    if (text === null || text === undefined) return null;
    const m = /^\s*([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(String(text));
    if (!m || (m[2] === "" && !m[3])) return null;
    const frac = m[3] || "";
    let units = BigInt((m[2] || "0") + frac);
    let scale = frac.length - (m[4] ? parseInt(m[4], 10) : 0);
    if (scale < 0) {
      units *= 10n ** BigInt(-scale);
      scale = 0;
    }
    if (m[1] === "-") units = -units;
    return { units, scale };
  }

  /** Units of `dec` at `places` decimals, rounding half away from zero. */
  function rescale(dec, places) {
    if (dec.scale <= places) return dec.units * 10n ** BigInt(places - dec.scale);
    const div = 10n ** BigInt(dec.scale - places);
    let q = dec.units / div; // BigInt division truncates toward zero
    const r = dec.units % div;
    if ((r < 0n ? -r : r) * 2n >= div) q += dec.units < 0n ? -1n : 1n;
    return q;
  }

  function group(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function unitsToString(units, places, showPlus) {
    const neg = units < 0n;
    let s = (neg ? -units : units).toString();
    if (places > 0) {
      s = s.padStart(places + 1, "0");
      s = group(s.slice(0, -places)) + "." + s.slice(-places);
    } else {
      s = group(s);
    }
    if (neg) return MINUS + s;
    if (showPlus && units > 0n) return "+" + s;
    return s;
  }

  /** Format a decimal string with exactly `places` decimals; "—" for null. */
  function formatDecimal(text, places, showPlus) {
    const dec = parseDecimal(text);
    if (!dec) return text === null || text === undefined ? DASH : String(text);
    return unitsToString(rescale(dec, places), places, Boolean(showPlus));
  }

  const formatMoney = (text) => formatDecimal(text, 2, false);
  const formatPnl = (text) => formatDecimal(text, 2, true);

  /** Prices keep their own precision (at least 2, at most 8 decimals). */
  function formatPrice(text) {
    const dec = parseDecimal(text);
    if (!dec) return formatDecimal(text, 2, false);
    return formatDecimal(text, Math.min(Math.max(dec.scale, 2), 8), false);
  }

  /** Base sizes: up to 8 decimals, trailing zeros dropped. */
  function formatSize(text) {
    const dec = parseDecimal(text);
    if (!dec) return formatDecimal(text, 0, false);
    const places = Math.min(dec.scale, 8);
    let s = unitsToString(rescale(dec, places), places, false);
    if (s.includes(".")) s = s.replace(/0+$/, "").replace(/\.$/, "");
    return s;
  }

  /** Decimal places of a product increment ("0.01" -> 2, "0.00000001" -> 8, "1" -> 0). */
  function placesOf(increment) {
    const dec = parseDecimal(increment);
    if (!dec || dec.units === 0n) return null;
    let { units, scale } = dec;
    while (scale > 0 && units % 10n === 0n) {
      units /= 10n;
      scale -= 1;
    }
    return scale;
  }

  /** A price at its product's quote increment (falls back to formatPrice without one). */
  function formatPriceAt(text, quoteIncrement) {
    const places = placesOf(quoteIncrement);
    return places === null ? formatPrice(text) : formatDecimal(text, Math.max(places, 2), false);
  }

  /** A base size at its product's base increment (falls back to formatSize without one). */
  function formatSizeAt(text, baseIncrement) {
    const places = placesOf(baseIncrement);
    return places === null ? formatSize(text) : formatDecimal(text, places, false);
  }

  /** "$1,234.50", "−$12.50"; with sign: "+$3.00". */
  function formatUsd(text, signed) {
    const sign = signOf(text);
    if (sign === null) return DASH;
    const body = formatDecimal(String(text).trim().replace(/^[+-]/, ""), 2, false);
    if (sign < 0 && body !== "0.00") return `${MINUS}$${body}`;
    return `${signed && sign > 0 ? "+" : ""}$${body}`;
  }

  /** A fraction as a signed percentage: 0.0123 -> "+1.23%". */
  function formatPct(fraction, digits) {
    if (typeof fraction !== "number" || !Number.isFinite(fraction)) return DASH;
    const s = Math.abs(fraction * 100).toFixed(digits ?? 2);
    if (Number(s) === 0) return `${s}%`;
    return `${fraction < 0 ? MINUS : "+"}${s}%`;
  }

  /** -1, 0 or 1 (exact); null when not a decimal. */
  function signOf(text) {
    const dec = parseDecimal(text);
    if (!dec) return null;
    return dec.units > 0n ? 1 : dec.units < 0n ? -1 : 0;
  }

  /** a / b as a Number for bar widths (6 significant decimals); null if b is 0 or missing. */
  function ratio(a, b) {
    const x = parseDecimal(a);
    const y = parseDecimal(b);
    if (!x || !y || y.units === 0n) return null;
    const scale = Math.max(x.scale, y.scale);
    const xu = rescale(x, scale);
    const yu = rescale(y, scale);
    return Number((xu * 1000000n) / yu) / 1000000;
  }

  /** Scores and thresholds are plain numbers in [-1, 1]. */
  function formatScore(n) {
    if (typeof n !== "number" || !Number.isFinite(n)) return DASH;
    const s = Math.abs(n).toFixed(2);
    if (s === "0.00") return s;
    return (n < 0 ? MINUS : "+") + s;
  }

  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return DASH;
    const total = Math.max(0, Math.ceil(Number(seconds)));
    if (total < 60) return `${total}s`;
    const sec = String(total % 60).padStart(2, "0");
    if (total < 3600) return `${Math.floor(total / 60)}m ${sec}s`;
    const min = String(Math.floor(total / 60) % 60).padStart(2, "0");
    if (total < 86400) return `${Math.floor(total / 3600)}h ${min}m`;
    return `${Math.floor(total / 86400)}d ${Math.floor(total / 3600) % 24}h`;
  }

  function pad2(n) {
    return String(n).padStart(2, "0");
  }

  /** Local time "HH:MM:SS", prefixed with the date when not today. */
  function formatTime(iso, now) {
    if (!iso) return DASH;
    const d = iso instanceof Date ? iso : new Date(iso);
    if (Number.isNaN(d.getTime())) return DASH;
    const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
    const ref = now || new Date();
    if (d.toDateString() === ref.toDateString()) return time;
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${time}`;
  }

  global.CoinpilotFormat = {
    DASH,
    parseDecimal,
    formatDecimal,
    formatMoney,
    formatPnl,
    formatPrice,
    formatSize,
    placesOf,
    formatPriceAt,
    formatSizeAt,
    formatUsd,
    formatPct,
    signOf,
    ratio,
    formatScore,
    formatDuration,
    formatTime,
  };
})(window);

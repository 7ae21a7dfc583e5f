/* Coinpilot dashboard: talking to the API.
 *
 * GETs are read-only. POSTs carry the bearer token, which lives in sessionStorage (gone when the
 * tab closes; never localStorage) and is checked against the server before it is kept.
 */
"use strict";

(function (global) {
  const API = "/api/v1";
  const TOKEN_KEY = "coinpilot.apiToken";
  const REQUEST_TIMEOUT_MS = 4500;

  async function fetchWithTimeout(url, options) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
    try {
      return await fetch(url, { cache: "no-store", ...options, signal: ctrl.signal });
    } finally {
      clearTimeout(timer);
    }
  }

  async function getJson(path) {
    const resp = await fetchWithTimeout(`${API}${path}`, { headers: { Accept: "application/json" } });
    if (!resp.ok) {
      const err = new Error(`HTTP ${resp.status}`);
      err.status = resp.status;
      throw err;
    }
    return resp.json();
  }

  async function errorDetail(resp) {
    try {
      const body = await resp.json();
      const d = body && body.detail;
      if (typeof d === "string") return d;
      if (Array.isArray(d)) return d.map((x) => x.msg || JSON.stringify(x)).join("; ");
      return d ? JSON.stringify(d) : "";
    } catch (_err) {
      return "";
    }
  }

  const token = {
    get: () => sessionStorage.getItem(TOKEN_KEY) || "",
    set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
    clear: () => sessionStorage.removeItem(TOKEN_KEY),
  };

  async function post(path, body, tokenOverride) {
    const t = tokenOverride === undefined ? token.get() : tokenOverride;
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (t) headers.Authorization = `Bearer ${t}`;
    return fetchWithTimeout(`${API}${path}`, {
      method: "POST",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** Ask the server whether a token is right (POST /auth/check changes nothing). */
  async function checkToken(candidate) {
    const resp = await post("/auth/check", undefined, candidate);
    return resp.ok;
  }

  let products = null;
  /** Product increments by pair, fetched once (the server caches them too). */
  async function productIncrements() {
    if (products) return products;
    try {
      const list = await getJson("/market/products");
      products = Object.fromEntries(list.map((p) => [p.product_id, p]));
    } catch (_err) {
      products = null;
      return {};
    }
    return products;
  }

  global.CoinpilotApi = { API, fetchWithTimeout, getJson, post, errorDetail, token, checkToken, productIncrements };
})(window);

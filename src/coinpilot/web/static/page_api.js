/* Coinpilot pages (bot form, analytics): talking to the API.
 *
 * The API token lives in sessionStorage (this tab only, gone when it closes), never in
 * localStorage; it is checked against the API before it is kept. Reads need no token.
 */
"use strict";

(function (global) {
  const TOKEN_KEY = "coinpilot.apiToken"; // the same key as the overview (api.js): one token per tab

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  /** fetch → {ok, status, body}; body is parsed JSON when the answer is JSON, else text. */
  async function request(method, path, body) {
    const headers = { Accept: "application/json" };
    const t = token();
    if (t && method !== "GET") headers.Authorization = `Bearer ${t}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(`/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (err) {
      return { ok: false, status: 0, body: { detail: `cannot reach the server: ${err.message}` } };
    }
    const type = resp.headers.get("content-type") || "";
    const parsed = type.includes("json") ? await resp.json() : await resp.text();
    return { ok: resp.ok, status: resp.status, body: parsed };
  }

  /** Keep `value` as this tab's token only if the API accepts it (a harmless authorised call). */
  async function saveToken(value) {
    const previous = token();
    sessionStorage.setItem(TOKEN_KEY, value);
    const check = await request("POST", "/auth/check");
    if (!check.ok) {
      if (previous) sessionStorage.setItem(TOKEN_KEY, previous);
      else sessionStorage.removeItem(TOKEN_KEY);
      return false;
    }
    return true;
  }

  /** One sentence from an error answer (FastAPI's detail string or list). */
  function describe(result) {
    const d = result.body && result.body.detail !== undefined ? result.body.detail : result.body;
    if (result.status === 401) return "401: the API token is missing or wrong (enter it above)";
    if (Array.isArray(d)) return d.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
    return `${result.status || "error"}: ${typeof d === "string" ? d : JSON.stringify(d)}`;
  }

  /** Wire a token form (input + button + status text) present on a page. */
  function bindTokenForm(form, input, status) {
    const show = () => {
      status.textContent = token() ? "Token checked and kept for this tab" : "No token: saving will be refused";
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) return;
      const ok = await saveToken(value);
      input.value = "";
      show();
      if (!ok) status.textContent = "That token was refused by the API; nothing saved";
    });
    show();
  }

  global.CoinpilotApi = { token, request, saveToken, describe, bindTokenForm };
})(window);

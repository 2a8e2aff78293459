// Fleet dashboard. The token never goes into a URL sent to the server: it comes from the login
// form or once from the URL fragment (#token=...), is kept in this tab's sessionStorage, and is
// sent as a bearer header. Everything from the API is inserted as text, never as HTML.
"use strict";

const STATE_URL = "/v1/dashboard/state";
const TOKEN_KEY = "ctx-dashboard-token";
const REFRESH_MS = 15000;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function num(value, digits = 2) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function pct(ratio) {
  return ratio === null || ratio === undefined ? "–" : (ratio * 100).toFixed(1) + " %";
}

function signed(value, digits = 2) {
  const span = el("span", {}, num(value, digits));
  if (value > 0) span.className = "pos";
  if (value < 0) span.className = "neg";
  return span;
}

function bar(spent, cap) {
  const used = cap > 0 ? Math.min(1, spent / cap) : 0;
  const wrap = el("span", { class: "bar" + (used >= 1 ? " full" : used >= 0.8 ? " high" : "") });
  const fill = el("span");
  fill.style.width = (used * 100).toFixed(0) + "%";
  wrap.append(fill);
  return wrap;
}

function takeToken() {
  const match = /(?:^|[#&])token=([^&]+)/.exec(window.location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", window.location.pathname);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function showLogin(message) {
  document.getElementById("content").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("summary").textContent = "sign in with the sidecar token";
  const error = document.getElementById("login-error");
  error.hidden = !message;
  error.textContent = message || "";
}

function renderAlerts(alerts) {
  const list = document.getElementById("alerts");
  list.replaceChildren();
  if (!alerts.length) list.append(el("li", { class: "muted" }, "none"));
  for (const a of alerts) {
    list.append(el("li", { class: a.level }, `[${a.level}] ${a.message}`, " ",
      el("span", { class: "muted" }, a.fired_at)));
  }
}

function renderCaps(caps) {
  const body = document.querySelector("#caps tbody");
  body.replaceChildren();
  for (const [name, cap] of Object.entries(caps)) {
    body.append(el("tr", {}, el("td", {}, name), el("td", {}, cap.period),
      el("td", { class: "num" }, num(cap.spent_usd, 4)),
      el("td", { class: "num" }, num(cap.reserved_usd, 4)),
      el("td", { class: "num" }, num(cap.cap_usd, 2)),
      el("td", {}, bar(cap.spent_usd, cap.cap_usd))));
  }
}

function statusBadge(status) {
  if (!status) return el("span", { class: "badge" }, "not polled");
  if (!status.reachable) return el("span", { class: "badge down" }, "unreachable");
  if (status.state !== "running") return el("span", { class: "badge warn" }, status.state || "?");
  return el("span", { class: "badge up" }, "running");
}

function renderBot(bot) {
  const s = bot.status;
  const card = el("article", { class: "bot", "data-bot": bot.id });
  card.append(el("h3", {}, bot.id, statusBadge(s),
    el("span", { class: "badge" }, bot.configured_dry_run ? "dry-run" : "LIVE")));
  card.append(el("div", { class: "muted" },
    `${bot.account} · ${bot.pairs.join(", ")} · ${bot.timeframe} · budget ${bot.budget_usdt} USDT`));
  const facts = el("dl");
  const add = (label, value) => facts.append(el("dt", {}, label), el("dd", {}, value));
  if (s && !s.reachable) add("error", s.error || "no answer");
  if (s && s.reachable) {
    add("open trades", `${s.open_trades.length} / ${s.max_open_trades ?? "?"}`);
    add("profit (closed)", signed(s.profit_closed_abs));
    add("profit (all)", signed(s.profit_all_abs));
    add("today", signed(s.today_profit_abs));
  }
  add("LLM today", el("span", {}, `${num(bot.llm.spent_today_usd, 4)} / ${num(bot.llm.cap_today_usd)} USD `,
    bar(bot.llm.spent_today_usd, bot.llm.cap_today_usd)));
  add("LLM calls today", String(bot.llm.calls_today));
  add("memory trades", String(bot.stats.trades));
  add("last poll", s ? s.checked_at : "–");
  if (s && s.problems && s.problems.length) {
    const last = s.problems[s.problems.length - 1];
    add(`log ${last.level.toLowerCase()}s`, `${s.problems.length}, latest: ${last.message.slice(0, 160)}`);
  }
  card.append(facts);
  if (s && s.open_trades.length) {
    card.append(el("strong", {}, "Open trades"));
    const list = el("ul", { class: "trades" });
    for (const t of s.open_trades) {
      list.append(el("li", {}, `${t.pair} `, signed(t.profit_abs, 4), ` USDT (${num(t.profit_pct)} %)`));
    }
    card.append(list);
  }
  if (bot.regimes && bot.regimes.length) {
    card.append(el("strong", {}, "Regime"));
    const regimes = el("ul", { class: "regimes" });
    for (const r of bot.regimes) {
      regimes.append(el("li", { class: `regime-${r.regime}` }, r.summary));
    }
    card.append(regimes);
  }
  if (bot.adjustments && bot.adjustments.length) {
    card.append(el("strong", {}, "Adjustments in force"));
    const adjustments = el("ul", { class: "adjustments" });
    for (const a of bot.adjustments) {
      const what = a.parameter === "pause_pair" ? `pause ${a.pair}` : `${a.parameter} ${num(a.value)}`;
      adjustments.append(el("li", { title: a.reason }, what,
        el("span", { class: "muted" }, ` until ${a.expires_at.slice(0, 16).replace("T", " ")}`)));
    }
    card.append(adjustments);
  }
  card.append(el("strong", {}, "Last verdicts"));
  const verdicts = el("ul", { class: "verdicts" });
  if (!bot.verdicts.length) verdicts.append(el("li", { class: "muted" }, "none yet"));
  for (const v of bot.verdicts) {
    verdicts.append(el("li", {}, `${v.pair} ${v.action} ${num(v.confidence)} via ${v.source}`,
      el("span", { class: "muted" }, ` ${v.at.slice(0, 16).replace("T", " ")}`),
      v.fallback_reason ? el("span", { class: "muted" }, ` (${v.fallback_reason})`) : null));
  }
  card.append(verdicts);
  if (bot.alerts.length) {
    const alerts = el("ul", { class: "alerts" });
    for (const a of bot.alerts) alerts.append(el("li", { class: a.level }, a.message));
    card.append(alerts);
  }
  return card;
}

function renderComparison(rows) {
  const body = document.querySelector("#comparison tbody");
  body.replaceChildren();
  for (const r of rows) {
    body.append(el("tr", { "data-bot": r.bot_id }, el("td", {}, r.bot_id),
      el("td", { class: "num" }, signed(r.profit_abs)),
      el("td", { class: "num" }, num(r.profit_pct_of_budget)),
      el("td", { class: "num" }, pct(r.winrate)),
      el("td", { class: "num" }, num(r.max_drawdown_abs)),
      el("td", { class: "num" }, num(r.llm_cost_usd, 4)),
      el("td", { class: "num" }, signed(r.profit_net_of_llm)),
      el("td", {}, r.source)));
  }
}

function render(state) {
  document.getElementById("login").hidden = true;
  document.getElementById("content").hidden = false;
  document.getElementById("logout").hidden = false;
  const up = state.bots.filter((b) => b.status && b.status.reachable).length;
  let summary = `${state.bots.length} bot(s), ${up} reachable, ${state.alerts.length} active alert(s) · ${state.generated_at}`;
  if (!state.fleet_configured) summary = "no fleet file configured (CTX_FLEET_FILE) · " + summary;
  if (state.fleet_error) summary = state.fleet_error;
  document.getElementById("summary").textContent = summary;
  renderAlerts(state.alerts);
  renderCaps(state.caps);
  document.getElementById("bots").replaceChildren(...state.bots.map(renderBot));
  renderComparison(state.comparison);
  document.body.dataset.loaded = "true";
}

async function refresh() {
  const token = takeToken();
  if (!token) return showLogin();
  try {
    const response = await fetch(STATE_URL, { headers: { Authorization: "Bearer " + token } });
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      return showLogin("the token was refused");
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
  } catch (error) {
    document.getElementById("summary").textContent = "cannot load the fleet state: " + error.message;
  }
}

document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value);
  refresh();
});
document.getElementById("logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin();
});
refresh();
setInterval(refresh, REFRESH_MS);

/* Kommunchatt – the residents' chat widget. Embed with:
 *   <script src="https://<server>/static/widget.js" defer></script>
 * Plain ES2020, no dependencies. All message text goes in with textContent. */
(() => {
  "use strict";

  const STORE_KEY = "kommunchatt";
  // News come over a WebSocket; polling is the fallback: often while the socket is down, seldom while it is up
  // (a little more often while waiting in line, since the place in line changes without an event).
  const POLL_MS = 1500;
  const POLL_LIVE_MS = 10000;
  const POLL_WAITING_MS = 5000;
  const TYPING_SEND_MS = 3000; // tell the official "the resident is typing" at most this often
  const TYPING_SHOW_MS = 5000; // "Anna Holm skriver …" goes away this long after the last sign of typing
  const PAGE = 500; // the server sends at most this many messages per call
  const NAMES = { bot: "Automatisk assistent", resident: "Du", system: "Kommunen" };

  const script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  const scriptUrl = new URL(script ? script.src : "/static/widget.js", location.href);
  const API = scriptUrl.origin;
  // The host page may name itself: <script src=".../widget.js" data-municipality="Exempelby kommun" defer>
  const MUNICIPALITY = (script && script.dataset.municipality) || "Exempelby kommun";

  const state = {
    conv: null, seen: new Set(), sending: false, polling: false, pollAgain: false, failures: 0, restarting: null,
    convState: "bot", // bot | waiting | with_official | closed: the resident's typing is only sent to a person
    typingSentAt: 0, typingTimer: null, officialName: "",
  };
  let ui = null;
  let live = null; // the WebSocket of the current conversation: { conv, socket }

  // Read-only figures for the browser tests and for debugging (window.kommunchatt.liveMessages etc.):
  // events received over the socket, messages first shown from it, connections made, polls done.
  const stats = { liveEvents: 0, liveMessages: 0, connects: 0, polls: 0, connected: false };
  try {
    const hook = {};
    for (const key of Object.keys(stats)) Object.defineProperty(hook, key, { get: () => stats[key], enumerable: true });
    Object.defineProperty(window, "kommunchatt", { value: Object.freeze(hook), configurable: true });
  } catch (_) { /* the host page has its own kommunchatt: do without */ }

  /* ---------- small helpers ---------- */

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  const pad = (n) => String(n).padStart(2, "0");
  function parseTime(iso) {
    const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(String(iso)) ? iso : `${iso}Z`); // the server means UTC
    return Number.isNaN(d.getTime()) ? null : d;
  }
  function fmtTime(iso) {
    const d = parseTime(iso);
    return d ? `${pad(d.getHours())}:${pad(d.getMinutes())}` : "";
  }
  function fmtDateTime(iso) {
    const d = parseTime(iso);
    return d ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${fmtTime(iso)}` : "";
  }
  function slug(text) {
    return String(text).toLowerCase().replace(/[åä]/g, "a").replace(/ö/g, "o").replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "kommun";
  }
  function initials(name) {
    return String(name || "").split(/\s+/).filter(Boolean).map((p) => p[0]).slice(0, 2).join("").toUpperCase() || "?";
  }
  function authorName(msg, withTitleInParens) {
    if (msg.author === "official" && msg.official) {
      const { name, title } = msg.official;
      if (!title) return name;
      return withTitleInParens ? `${name} (${title})` : `${name}, ${title}`;
    }
    return NAMES[msg.author] || "Kommunen";
  }

  /* ---------- storage ---------- */

  function loadConv() {
    try {
      const data = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
      if (data && typeof data.id === "string" && typeof data.secret === "string") {
        return { id: data.id, secret: data.secret, lastSeq: Number(data.lastSeq) || 0 };
      }
    } catch (_) { /* private mode or broken JSON: start afresh */ }
    return null;
  }
  function saveConv() {
    try {
      if (state.conv) localStorage.setItem(STORE_KEY, JSON.stringify(state.conv));
      else localStorage.removeItem(STORE_KEY);
    } catch (_) { /* storage unavailable: the chat still works until reload */ }
  }

  /* ---------- API ---------- */

  async function api(path, { method = "GET", body, conv } = {}) {
    const headers = { Accept: "application/json" };
    if (conv) headers["X-Resident-Secret"] = conv.secret;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(API + path, {
      method, headers, credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (_) { /* empty body */ }
    if (!res.ok) {
      const detail = data && typeof data.detail === "string" ? data.detail : "";
      const err = new Error(detail || "Något gick fel. Försök igen om en stund.");
      err.status = res.status;
      throw err;
    }
    return data;
  }
  const convPath = (conv, rest = "") => `/api/conversations/${encodeURIComponent(conv.id)}${rest}`;

  async function createConversation() {
    const data = await api("/api/conversations", { method: "POST", body: {} });
    state.conv = { id: data.id, secret: data.secret, lastSeq: 0 };
    state.seen.clear();
    state.convState = data.state || "bot";
    saveConv();
    ensureLive();
    return state.conv;
  }
  async function ensureConversation() {
    if (state.restarting) await state.restarting;
    if (!state.conv) state.restarting = createConversation().finally(() => { state.restarting = null; });
    return state.conv || state.restarting;
  }

  /** The stored conversation is gone (404): forget it, clear the list and open a new one. */
  function restart() {
    if (!state.restarting) {
      state.conv = null;
      state.seen.clear();
      state.convState = "bot";
      saveConv();
      ensureLive(); // closes the old conversation's socket
      for (const node of ui.list.querySelectorAll(".kc-msg")) node.remove();
      setStatus("");
      hideTyping();
      state.restarting = createConversation().finally(() => { state.restarting = null; });
    }
    return state.restarting;
  }

  /* ---------- rendering ---------- */

  /** Put text into `parent` as text nodes; web addresses become links (only http/https, built with textContent). */
  function appendLinked(parent, text) {
    const source = String(text || "");
    const re = /https?:\/\/[^\s<>"']+/g;
    let last = 0;
    for (const match of source.matchAll(re)) {
      const url = match[0].replace(/[.,;:!?)\]]+$/, "");
      if (!url) continue;
      parent.append(source.slice(last, match.index));
      const link = el("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "kc-link" }, url);
      link.append(el("span", { class: "kc-sr" }, " (öppnas i en ny flik)"));
      parent.append(link);
      last = match.index + url.length;
    }
    parent.append(source.slice(last));
  }

  /** Only the newest message's quick replies can be used; older ones stay visible but are switched off. */
  function retireOldQuickReplies() {
    const nodes = ui.list.querySelectorAll(".kc-msg");
    const newest = nodes[nodes.length - 1];
    for (const btn of ui.list.querySelectorAll(".kc-quick")) {
      if (!newest || !newest.contains(btn)) btn.disabled = true;
    }
  }

  function renderMessage(msg) {
    const author = ["bot", "official", "system", "resident"].includes(msg.author) ? msg.author : "system";
    const node = el("div", { class: `kc-msg kc-msg--${author}`, "data-author": author, "data-seq": String(msg.seq) });
    if (author === "system") {
      node.append(el("span", { class: "kc-sr" }, "Meddelande från kommunen: "));
      node.append(el("p", { class: "kc-text" }, msg.text));
      return node;
    }
    const meta = el("div", { class: "kc-meta" });
    if (author === "official") meta.append(el("span", { class: "kc-avatar", "aria-hidden": "true" }, initials(msg.official && msg.official.name)));
    const byline = el("span", { class: "kc-byline" });
    byline.append(el("span", { class: "kc-who" }, authorName(msg, false)));
    const time = fmtTime(msg.created_at);
    if (time) byline.append(" ", el("time", { class: "kc-time", datetime: msg.created_at }, time));
    meta.append(byline);
    const text = el("p", { class: "kc-text" });
    if (author === "resident") text.textContent = msg.text;
    else appendLinked(text, msg.text);
    node.append(meta, text);

    if (author === "bot" && Array.isArray(msg.buttons) && msg.buttons.length) {
      const group = el("div", { class: "kc-buttons", role: "group", "aria-label": "Svarsalternativ" });
      const shown = new Set();
      for (const b of msg.buttons) {
        if (!b || !b.title) continue;
        const key = `${b.title}\u0000${b.payload || ""}`;
        if (shown.has(key)) continue; // the same choice twice is one button
        shown.add(key);
        const btn = el("button", { type: "button", class: "kc-quick" }, b.title);
        btn.addEventListener("click", () => {
          for (const other of group.querySelectorAll("button")) other.disabled = true;
          send(b.title, b.payload || null).then((ok) => {
            if (!ok) for (const other of group.querySelectorAll("button")) other.disabled = false;
          });
        });
        group.append(btn);
      }
      node.append(group);
    }
    return node;
  }

  /** Add messages in seq order, each once. `complete` = the server listed everything after lastSeq.
   * `fromSocket` only counts them for window.kommunchatt. */
  function addMessages(messages, complete, fromSocket) {
    if (!state.conv || !Array.isArray(messages)) return;
    const nearBottom = ui.scroll.scrollHeight - ui.scroll.scrollTop - ui.scroll.clientHeight < 80;
    let added = false;
    let ownMessage = false;
    for (const msg of messages) {
      const seq = Number(msg.seq);
      if (!Number.isInteger(seq) || state.seen.has(seq)) continue;
      state.seen.add(seq);
      const node = renderMessage(msg);
      const later = Array.from(ui.list.querySelectorAll(".kc-msg")).find((n) => Number(n.dataset.seq) > seq);
      ui.list.insertBefore(node, later || null);
      added = true;
      if (fromSocket) stats.liveMessages += 1;
      if (msg.author === "resident") ownMessage = true;
      if (msg.author === "official") hideTyping(); // the official has finished writing
    }
    // A poll lists every message after lastSeq, so its highest seq is safe to move to.
    // A send's answer may skip one (e.g. a notice stored in between), so only move while there is no gap.
    const conv = state.conv;
    if (complete) {
      for (const msg of messages) conv.lastSeq = Math.max(conv.lastSeq, Number(msg.seq) || 0);
    }
    while (state.seen.has(conv.lastSeq + 1)) conv.lastSeq += 1;
    saveConv();
    if (added) retireOldQuickReplies();
    if (added && (nearBottom || ownMessage)) ui.scroll.scrollTop = ui.scroll.scrollHeight;
  }

  /** The line under the title: who answers, or the place in line. `person` adds an initials avatar. */
  function setStatus(text, person) {
    const key = `${person ? person.name : ""}|${text}`;
    if (ui.status.dataset.key === key) return;
    ui.status.dataset.key = key;
    const parts = [];
    if (person) parts.push(el("span", { class: "kc-avatar kc-avatar--status", "aria-hidden": "true" }, initials(person.name)));
    parts.push(el("span", { class: "kc-status-text" }, text));
    ui.status.replaceChildren(...(text ? parts : []));
    ui.status.classList.toggle("kc-status--person", Boolean(person));
    ui.status.hidden = !text;
  }
  function showError(text) {
    if (ui.error.textContent !== text) ui.error.textContent = text;
    ui.error.hidden = !text;
  }

  function showConversationInfo(info) {
    if (!info) return;
    if (info.state) state.convState = info.state;
    const person = info.official;
    if (person && person.name) state.officialName = person.name;
    // The socket says so at once; the poll is only needed while the socket is down.
    if (info.official_typing && !socketUp()) showTyping(person && person.name);
    const who = person ? (person.title ? `${person.name}, ${person.title}` : person.name) : "";
    if (info.state === "waiting") {
      let text = who ? `Du väntar på ${who}.` : "Du väntar på en handläggare.";
      if (info.queue_position) text += ` Du är nummer ${info.queue_position} i kön.`;
      if (info.expected_wait_minutes) {
        text += info.expected_wait_minutes === 1 ? " Väntetid cirka 1 minut." : ` Väntetid cirka ${info.expected_wait_minutes} minuter.`;
      }
      setStatus(text, person || null);
    } else if (info.state === "with_official" && person) {
      setStatus(`Du pratar nu med ${who}.`, person);
    } else {
      setStatus("");
    }
  }

  /** "Anna Holm skriver …" in a polite live region, gone after TYPING_SHOW_MS without a new sign. */
  function showTyping(name) {
    if (state.convState === "bot" || state.convState === "closed") return;
    const who = name || state.officialName || "Handläggaren";
    const text = `${who} skriver …`;
    if (ui.typing.textContent !== text) {
      const nearBottom = ui.scroll.scrollHeight - ui.scroll.scrollTop - ui.scroll.clientHeight < 80;
      ui.typing.textContent = text; // the line takes room from the history: keep its newest message in view
      if (nearBottom) ui.scroll.scrollTop = ui.scroll.scrollHeight;
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(hideTyping, TYPING_SHOW_MS);
  }
  function hideTyping() {
    clearTimeout(state.typingTimer);
    state.typingTimer = null;
    if (ui.typing.textContent) ui.typing.textContent = "";
  }

  /** Tell the official that the resident is typing: only to a person, at most every TYPING_SEND_MS. */
  function residentTyping() {
    const conv = state.conv;
    if (!conv || !ui.input.value.trim()) return;
    if (state.convState !== "waiting" && state.convState !== "with_official") return;
    const now = Date.now();
    if (now - state.typingSentAt < TYPING_SEND_MS) return;
    state.typingSentAt = now;
    api(convPath(conv, "/typing"), { method: "POST", conv }).catch(() => { /* only a courtesy: never an error */ });
  }

  /* ---------- live: the WebSocket ---------- */

  /** A WebSocket that reconnects by itself (after about 1, 2, 4 … 30 s) until stopped. */
  function reconnectingSocket({ url, hello, onEvent, onUp, onDown }) {
    let ws = null;
    let timer = null;
    let attempts = 0;
    let up = false;
    let stopped = false;

    function connect() {
      timer = null;
      if (stopped || ws) return;
      let sock;
      try {
        sock = new WebSocket(url);
      } catch (_) {
        schedule();
        return;
      }
      ws = sock;
      sock.addEventListener("open", () => {
        if (ws === sock) sock.send(JSON.stringify(hello()));
      });
      sock.addEventListener("message", (event) => {
        if (ws !== sock) return;
        let data;
        try { data = JSON.parse(event.data); } catch (_) { return; }
        if (!data || typeof data !== "object") return;
        if (!up) {
          up = true;
          attempts = 0;
          if (onUp) onUp();
        }
        onEvent(data);
      });
      sock.addEventListener("close", (event) => {
        if (ws !== sock) return;
        ws = null;
        const wasUp = up;
        up = false;
        if (stopped) return;
        if (onDown) onDown(event.code, wasUp);
        schedule();
      });
    }
    function schedule() {
      if (stopped || timer) return;
      const base = Math.min(30000, 1000 * 2 ** Math.min(attempts, 5));
      attempts += 1;
      timer = setTimeout(connect, base / 2 + Math.random() * (base / 2)); // jitter: not everyone at once after an outage
    }
    connect();
    return {
      get up() { return up; },
      /** Try at once (e.g. the browser is back online), forgetting the back-off. */
      retryNow() {
        if (stopped || ws) return;
        clearTimeout(timer);
        timer = null;
        attempts = 0;
        connect();
      },
      stop() {
        stopped = true;
        clearTimeout(timer);
        timer = null;
        up = false;
        if (ws) {
          const sock = ws;
          ws = null;
          try { sock.close(1000); } catch (_) { /* already closing */ }
        }
      },
    };
  }

  const socketUp = () => Boolean(live && live.conv === state.conv && live.socket.up);
  const wsBase = API.replace(/^http/, "ws");

  /** Keep one socket open for the current conversation (none before the first message). */
  function ensureLive() {
    if (live && live.conv === state.conv) return;
    if (live) live.socket.stop();
    live = null;
    stats.connected = false;
    const conv = state.conv;
    if (!conv) return;
    live = {
      conv,
      socket: reconnectingSocket({
        url: `${wsBase}${convPath(conv, "/ws")}`,
        // resume after the last message that is on the screen with nothing missing before it
        hello: () => ({ secret: conv.secret, after: conv.lastSeq }),
        onUp: () => { stats.connects += 1; stats.connected = true; },
        onDown: (code) => {
          stats.connected = false;
          if (code === 4404) poll(); // unknown conversation: the poll gets a 404 and starts a new one
        },
        onEvent: (event) => liveEvent(conv, event),
      }),
    };
  }

  function liveEvent(conv, event) {
    if (state.conv !== conv) return;
    stats.liveEvents += 1;
    switch (event.type) {
      case "message":
        addMessages([event], false, true);
        break;
      case "state": // sent after each backlog and on every change: the history is in, refresh the status line
        if (event.state) state.convState = event.state;
        ui.list.removeAttribute("aria-busy");
        if (event.state === "bot" || event.state === "closed") hideTyping();
        poll();
        break;
      case "queue":
        poll();
        break;
      case "typing":
        if (event.who === "official") showTyping(event.name);
        break;
      default:
        break; // newer servers may send more: ignore
    }
  }

  /* ---------- polling (the fallback) ---------- */

  async function poll() {
    const conv = state.conv;
    if (!conv) return;
    if (state.polling) {
      state.pollAgain = true; // e.g. a state event during a poll: fetch the state once more afterwards
      return;
    }
    state.polling = true;
    try {
      let page;
      do { // catch up in pages, e.g. after a reload of a long conversation
        page = await api(convPath(conv, `/messages?after=${conv.lastSeq}`), { conv });
        if (state.conv !== conv) return;
        addMessages(page.messages, true);
      } while (page.messages.length >= PAGE);
      ui.list.removeAttribute("aria-busy"); // the history after a reload is in: announce only new messages from now on
      const info = await api(convPath(conv), { conv });
      if (state.conv !== conv) return;
      showConversationInfo(info);
      stats.polls += 1;
      if (state.failures >= 2) showError("");
      state.failures = 0;
    } catch (err) {
      if (state.conv !== conv) return;
      if (err.status === 404) {
        try { await restart(); } catch (_) { showError("Det gick inte att starta ett nytt samtal. Försök igen om en stund."); }
      } else if (++state.failures === 2) {
        showError("Vi får ingen kontakt med chatten just nu. Vi försöker igen.");
      }
    } finally {
      state.polling = false;
      if (state.pollAgain) {
        state.pollAgain = false;
        if (state.conv === conv) poll();
      }
    }
  }

  function pollDelay() {
    if (!socketUp()) return POLL_MS;
    return state.convState === "waiting" ? POLL_WAITING_MS : POLL_LIVE_MS;
  }

  function loop() {
    poll().finally(() => {
      ensureLive(); // after the first poll, so that the history comes in one piece
      setTimeout(loop, pollDelay());
    });
  }

  /* ---------- sending ---------- */

  async function postMessage(text, payload) {
    const conv = await ensureConversation();
    const body = payload ? { text, payload } : { text };
    return api(convPath(conv, "/messages"), { method: "POST", body, conv });
  }

  async function send(text, payload) {
    text = String(text || "").trim();
    if (!text) {
      showError("Skriv ett meddelande innan du skickar.");
      return false;
    }
    if (state.sending) return false;
    state.sending = true;
    ui.send.disabled = true;
    ui.form.setAttribute("aria-busy", "true");
    showError("");
    try {
      let res;
      try {
        res = await postMessage(text, payload);
      } catch (err) {
        if (err.status !== 404) throw err;
        await restart();
        res = await postMessage(text, payload);
      }
      addMessages(res.messages, false);
      if (res.state) state.convState = res.state;
      if (res.state === "bot") {
        setStatus("");
        hideTyping();
      } else {
        poll(); // show the place in line or the official at once
      }
      return true;
    } catch (err) {
      showError(err instanceof TypeError
        ? "Det gick inte att skicka. Kontrollera din anslutning och försök igen."
        : err.message);
      return false;
    } finally {
      state.sending = false;
      ui.send.disabled = false;
      ui.form.removeAttribute("aria-busy");
    }
  }

  /* ---------- download ---------- */

  async function download() {
    const conv = state.conv;
    if (!conv) {
      showError("Det finns inget samtal att ladda ner än.");
      return;
    }
    ui.download.disabled = true;
    try {
      const all = [];
      let after = 0;
      for (;;) {
        const page = await api(convPath(conv, `/messages?after=${after}`), { conv });
        all.push(...page.messages);
        if (page.messages.length < PAGE) break;
        after = page.messages[page.messages.length - 1].seq;
      }
      const now = new Date();
      const lines = [
        `Chatt med ${MUNICIPALITY}`,
        `Nedladdat ${fmtDateTime(now.toISOString())}. Tider i din tidszon.`,
        "",
        ...all.map((m) => `${fmtDateTime(m.created_at)} ${authorName(m, true)}: ${m.text}`),
      ];
      const blob = new Blob([lines.join("\n") + "\n"], { type: "text/plain;charset=utf-8" });
      const url = URL.createObjectURL(blob);
      const link = el("a", { href: url, download: `samtal-${slug(MUNICIPALITY)}-${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}.txt` });
      link.hidden = true;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 5000);
      showError("");
    } catch (err) {
      showError("Det gick inte att ladda ner samtalet. Försök igen.");
    } finally {
      ui.download.disabled = false;
    }
  }

  /* ---------- building the UI ---------- */

  function build() {
    const css = el("link", { rel: "stylesheet", href: new URL("widget.css", scriptUrl).href });
    document.head.append(css);

    const root = el("section", { id: "kc-root", class: "kc-root", "aria-labelledby": "kc-title" });
    const header = el("div", { class: "kc-header" });
    const titleRow = el("div", { class: "kc-title-row" });
    const title = el("h2", { id: "kc-title", class: "kc-title" }, `Chatt med ${MUNICIPALITY}`);
    const toggle = el("button", { type: "button", class: "kc-toggle", "aria-expanded": "true", "aria-controls": "kc-body" }, "Minimera");
    titleRow.append(title, toggle);
    const status = el("p", { id: "kc-status", class: "kc-status", role: "status" });
    status.hidden = true;
    header.append(titleRow, status);

    const body = el("div", { id: "kc-body", class: "kc-body" });
    // Focusable, so that the history can be scrolled with the keyboard alone.
    const scroll = el("div", { class: "kc-scroll", tabindex: "0", role: "group", "aria-label": "Chattens historik" });
    const notice = el("p", { class: "kc-notice" }, "Skriv inte personnummer eller uppgifter om din hälsa i chatten.");
    const list = el("div", { id: "kc-messages", class: "kc-messages", role: "log", "aria-live": "polite", "aria-label": "Meddelanden i chatten" });
    scroll.append(notice, list);

    // "Anna Holm skriver …": always in the page (a live region must exist before it speaks), empty when nobody types.
    const typing = el("p", { id: "kc-typing", class: "kc-typing", role: "status", "aria-live": "polite" });

    const error = el("p", { id: "kc-error", class: "kc-error", role: "alert" });
    error.hidden = true;

    const form = el("form", { id: "kc-form", class: "kc-form", novalidate: true });
    const label = el("label", { for: "kc-input", class: "kc-label" }, "Ditt meddelande");
    const row = el("div", { class: "kc-row" });
    const input = el("textarea", { id: "kc-input", class: "kc-input", name: "text", rows: "2", maxlength: "4000", autocomplete: "off", "aria-describedby": "kc-hint" });
    const sendBtn = el("button", { type: "submit", class: "kc-send" }, "Skicka");
    row.append(input, sendBtn);
    const hint = el("p", { id: "kc-hint", class: "kc-hint" }, "Enter skickar. Skift + Enter ger ny rad.");
    form.append(label, row, hint);

    const tools = el("div", { class: "kc-tools" });
    const dl = el("button", { type: "button", id: "kc-download", class: "kc-download" }, "Ladda ner samtalet");
    tools.append(dl);

    body.append(scroll, typing, error, form, tools);
    root.append(header, body);
    document.body.append(root);

    ui = { root, body, scroll, list, status, typing, error, form, input, send: sendBtn, download: dl, toggle };

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = input.value;
      if (!text.trim()) {
        showError("Skriv ett meddelande innan du skickar.");
        input.focus();
        return;
      }
      if (state.sending) return;
      input.value = "";
      const ok = await send(text, null);
      if (!ok && !input.value) input.value = text; // give the text back so nothing is lost
    });
    input.addEventListener("input", residentTyping);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (typeof form.requestSubmit === "function") form.requestSubmit();
        else form.dispatchEvent(new Event("submit", { cancelable: true }));
      }
    });
    dl.addEventListener("click", download);
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      toggle.textContent = open ? "Minimera" : "Öppna chatten";
      body.hidden = !open;
      root.classList.toggle("kc-root--closed", !open);
      if (open) input.focus();
    });
  }

  function start() {
    build();
    state.conv = loadConv();
    if (state.conv) {
      state.conv.lastSeq = 0; // show the whole conversation again after a reload
      ui.list.setAttribute("aria-busy", "true"); // ...without reading it all out again
    }
    // Back online, or back to the tab: reconnect now instead of waiting out the back-off, and catch up.
    const wake = () => {
      if (live && live.conv === state.conv) live.socket.retryNow();
      poll();
    };
    window.addEventListener("online", wake);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) wake(); });
    loop();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/* Kommunchatt – the residents' chat widget. Embed with:
 *   <script src="https://<server>/static/widget.js" defer></script>
 * Plain ES2020, no dependencies. All message text goes in with textContent.
 * It starts as a small launcher button; the chat opens (and the conversation starts) on a click.
 * Its own words come from the service (GET /api/widget/texts/{sv|en}, texts/widget_*.yml). */
(() => {
  "use strict";

  const STORE_KEY = "kommunchatt";
  const OPEN_KEY = "kommunchatt-open"; // sessionStorage: the chat was left open in this tab
  const LANGUAGES = ["sv", "en"];
  // News come over a WebSocket; polling is the fallback: often while the socket is down, seldom while it is up
  // (a little more often while waiting in line, since the place in line changes without an event).
  const POLL_MS = 1500;
  const POLL_LIVE_MS = 10000;
  const POLL_WAITING_MS = 5000;
  const TYPING_SEND_MS = 3000; // tell the official "the resident is typing" at most this often
  const TYPING_SHOW_MS = 5000; // "Anna Holm skriver …" goes away this long after the last sign of typing
  const PAGE = 500; // the server sends at most this many messages per call
  const TEXTS_RETRY_MAX_MS = 30000; // without its texts the widget waits, trying again, before it shows itself

  const script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  const scriptUrl = new URL(script ? script.src : "/static/widget.js", location.href);
  const API = scriptUrl.origin;
  // The host page may name itself: <script src=".../widget.js" data-municipality="Exempelby kommun" defer>
  const MUNICIPALITY = (script && script.dataset.municipality) || "Exempelby kommun";
  // ...and its language, for a new conversation (data-language="en" on English pages); Swedish otherwise.
  const PAGE_LANGUAGE = script && LANGUAGES.includes(script.dataset.language) ? script.dataset.language : "sv";

  const state = {
    conv: null, seen: new Set(), sending: false, polling: false, pollAgain: false, failures: 0, restarting: null,
    convState: "bot", // bot | waiting | with_official | closed: the resident's typing is only sent to a person
    typingSentAt: 0, typingTimer: null, officialName: "", typingName: "",
    lang: "sv", texts: {}, wantedLang: null, lastInfo: null, // the language shown, its texts, the last status
    open: false, unread: 0, caughtUp: false, // panel open; messages that came while it was closed
    pending: null, // the message being sent: { text, payload, conv, id }
  };
  let ui = null;
  let live = null; // the WebSocket of the current conversation: { conv, socket }

  // Read-only figures for the browser tests and for debugging (window.kommunchatt.liveMessages etc.):
  // events received over the socket, messages first shown from it, connections made, polls done;
  // whether the chat is open, the language of its texts, messages counted on the launcher.
  const stats = { liveEvents: 0, liveMessages: 0, connects: 0, polls: 0, connected: false, open: false, language: "", unread: 0 };
  try {
    const hook = {};
    for (const key of Object.keys(stats)) Object.defineProperty(hook, key, { get: () => stats[key], enumerable: true });
    Object.defineProperty(window, "kommunchatt", { value: Object.freeze(hook), configurable: true });
  } catch (_) { /* the host page has its own kommunchatt: do without */ }

  /* ---------- texts ---------- */

  /** The text named key in the widget's language, with {placeholders} filled (unknown ones empty). */
  function t(key, values) {
    const raw = state.texts[key];
    if (typeof raw !== "string") return "";
    return raw.replace(/\{(\w+)\}/g, (_, name) => (values && values[name] != null ? String(values[name]) : ""));
  }
  const VALUES = { kommun: MUNICIPALITY };
  const textsCache = {};
  async function loadTexts(lang) {
    if (!textsCache[lang]) {
      const data = await api(`/api/widget/texts/${lang}`);
      if (!data || typeof data !== "object" || typeof data.launcher !== "string") throw new Error("no texts");
      textsCache[lang] = data;
    }
    return textsCache[lang];
  }

  /** The conversation's language (from any answer of the API): load its texts and label everything anew. */
  async function setLanguage(lang) {
    if (!LANGUAGES.includes(lang) || (lang === state.lang && state.wantedLang === null)) return;
    if (state.wantedLang === lang) return; // already loading
    state.wantedLang = lang;
    let texts;
    try {
      texts = await loadTexts(lang);
    } catch (_) {
      if (state.wantedLang === lang) state.wantedLang = null; // the next answer tries again
      return;
    }
    if (state.wantedLang !== lang) return; // another language was asked for meanwhile
    state.wantedLang = null;
    state.lang = lang;
    state.texts = texts;
    stats.language = lang;
    if (state.conv && state.conv.language !== lang) {
      state.conv.language = lang;
      saveConv();
    }
    applyTexts();
  }

  /** Mark a node whose text (or an attribute) is the text named key, so that a change of language relabels it. */
  function labelled(node, key, attr) {
    if (attr) {
      node.dataset.kcAttr = attr;
      node.dataset.kcAttrKey = key;
      node.setAttribute(attr, t(key, VALUES));
    } else {
      node.dataset.kcText = key;
      node.textContent = (node.dataset.kcSpace ? " " : "") + t(key, VALUES);
    }
    return node;
  }

  /** Every label, notice and status in the current language (after the texts came or changed). */
  function applyTexts() {
    if (!ui) return;
    ui.root.lang = state.lang;
    for (const node of ui.root.querySelectorAll("[data-kc-text]")) {
      node.textContent = (node.dataset.kcSpace ? " " : "") + t(node.dataset.kcText, VALUES);
    }
    for (const node of ui.root.querySelectorAll("[data-kc-attr]")) {
      node.setAttribute(node.dataset.kcAttr, t(node.dataset.kcAttrKey, VALUES));
    }
    updateLauncher();
    renderStatus();
    if (ui.typing.textContent) ui.typing.textContent = t("typing", { namn: state.typingName });
  }

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
    return t(`name_${["bot", "resident"].includes(msg.author) ? msg.author : "system"}`);
  }

  /* ---------- storage ---------- */

  function loadConv() {
    try {
      const data = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
      if (data && typeof data.id === "string" && typeof data.secret === "string") {
        const language = LANGUAGES.includes(data.language) ? data.language : PAGE_LANGUAGE;
        return { id: data.id, secret: data.secret, lastSeq: Number(data.lastSeq) || 0, language };
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
  function loadOpen() {
    try { return sessionStorage.getItem(OPEN_KEY) === "1"; } catch (_) { return false; }
  }
  function saveOpen() {
    try { sessionStorage.setItem(OPEN_KEY, state.open ? "1" : "0"); } catch (_) { /* not remembered: fine */ }
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
      const err = new Error(detail || t("error_generic") || `HTTP ${res.status}`);
      err.status = res.status;
      throw err;
    }
    return data;
  }
  const convPath = (conv, rest = "") => `/api/conversations/${encodeURIComponent(conv.id)}${rest}`;

  /** A new conversation in the widget's language; the service stores the assistant's welcome as its first message. */
  async function createConversation() {
    const data = await api("/api/conversations", { method: "POST", body: { language: state.lang } });
    state.conv = { id: data.id, secret: data.secret, lastSeq: 0, language: state.lang };
    state.seen.clear();
    state.convState = data.state || "bot";
    state.caughtUp = true; // everything in it from now on is new
    saveConv();
    ensureLive();
    poll(); // the welcome, at once
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
      state.lastInfo = null;
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
      link.append(labelled(el("span", { class: "kc-sr", "data-kc-space": "1" }), "new_tab"));
      parent.append(link);
      last = match.index + url.length;
    }
    parent.append(source.slice(last));
  }

  /** Quick replies can be used until the resident (or an official) writes again: all the buttons of the
   * assistant's latest turn (an answer and "Fick du svar på din fråga?" after it) work, older ones stay
   * visible but are switched off, and so are a group's buttons while one of them is being sent. */
  function refreshQuickReplies() {
    const nodes = Array.from(ui.list.querySelectorAll(".kc-msg"));
    let lastTurn = -1;
    nodes.forEach((node, i) => {
      if (node.dataset.author === "resident" || node.dataset.author === "official") lastTurn = i;
    });
    nodes.forEach((node, i) => {
      const group = node.querySelector(".kc-buttons");
      if (!group) return;
      const usable = i > lastTurn && group.dataset.busy !== "1";
      for (const btn of group.querySelectorAll(".kc-quick")) btn.disabled = !usable;
    });
  }

  function renderMessage(msg) {
    const author = ["bot", "official", "system", "resident"].includes(msg.author) ? msg.author : "system";
    const node = el("div", { class: `kc-msg kc-msg--${author}`, "data-author": author, "data-seq": String(msg.seq) });
    if (author === "system") {
      node.append(labelled(el("span", { class: "kc-sr" }), "system_prefix"));
      node.append(el("p", { class: "kc-text" }, msg.text));
      return node;
    }
    const meta = el("div", { class: "kc-meta" });
    if (author === "official") meta.append(el("span", { class: "kc-avatar", "aria-hidden": "true" }, initials(msg.official && msg.official.name)));
    const byline = el("span", { class: "kc-byline" });
    const who = el("span", { class: "kc-who" }, authorName(msg, false));
    if (author !== "official" || !msg.official) labelled(who, `name_${author === "official" ? "system" : author}`);
    byline.append(who);
    const time = fmtTime(msg.created_at);
    if (time) byline.append(" ", el("time", { class: "kc-time", datetime: msg.created_at }, time));
    meta.append(byline);
    const text = el("p", { class: "kc-text" });
    if (author === "resident") text.textContent = msg.text;
    else appendLinked(text, msg.text);
    node.append(meta, text);

    if ((author === "bot" || author === "system") && Array.isArray(msg.buttons) && msg.buttons.length) {
      const group = labelled(el("div", { class: "kc-buttons", role: "group" }), "choices", "aria-label");
      const shown = new Set();
      for (const b of msg.buttons) {
        if (!b || !b.title) continue;
        const key = `${b.title}\u0000${b.payload || ""}`;
        if (shown.has(key)) continue; // the same choice twice is one button
        shown.add(key);
        const btn = el("button", { type: "button", class: "kc-quick" }, b.title);
        btn.addEventListener("click", () => {
          group.dataset.busy = "1";
          refreshQuickReplies();
          // The payload goes as it is, e.g. /feedback_yes{"svar":"bygglov/carport"} or /byt_sprak{"language":"en"}.
          send(b.title, b.payload || null).finally(() => {
            delete group.dataset.busy;
            refreshQuickReplies();
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
      else if (!state.open && state.caughtUp) state.unread += 1; // shown on the launcher
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
    if (added) {
      refreshQuickReplies();
      updateLauncher();
    }
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
    if (info.language) setLanguage(info.language);
    if (info.state) state.convState = info.state;
    state.lastInfo = info;
    const person = info.official;
    if (person && person.name) state.officialName = person.name;
    // The socket says so at once; the poll is only needed while the socket is down.
    if (info.official_typing && !socketUp()) showTyping(person && person.name);
    renderStatus();
  }

  /** The status line from the last GET /api/conversations/{id}, in the current language. */
  function renderStatus() {
    const info = state.lastInfo;
    if (!info) {
      setStatus("");
      return;
    }
    const person = info.official;
    const who = person ? (person.title ? `${person.name}, ${person.title}` : person.name) : "";
    if (info.state === "waiting") {
      const parts = [who ? t("waiting_for", { namn: who }) : t("waiting_any")];
      if (info.queue_position) parts.push(t("queue_place", { plats: info.queue_position }));
      if (info.expected_wait_minutes) {
        parts.push(info.expected_wait_minutes === 1 ? t("wait_one") : t("wait_many", { minuter: info.expected_wait_minutes }));
      }
      setStatus(parts.join(" "), person || null);
    } else if (info.state === "with_official" && person) {
      setStatus(t("with_official", { namn: who }), person);
    } else {
      setStatus("");
    }
  }

  /** "Anna Holm skriver …" in a polite live region, gone after TYPING_SHOW_MS without a new sign. */
  function showTyping(name) {
    if (state.convState === "bot" || state.convState === "closed") return;
    state.typingName = name || state.officialName || t("name_official");
    const text = t("typing", { namn: state.typingName });
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
        if (event.language) setLanguage(event.language);
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
        if (page.language) setLanguage(page.language);
        addMessages(page.messages, true);
      } while (page.messages.length >= PAGE);
      state.caughtUp = true; // from now on, what comes while the chat is closed counts as unread
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
        try { await restart(); } catch (_) { showError(t("error_restart")); }
      } else if (++state.failures === 2) {
        showError(t("error_offline"));
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

  /** An id of the widget's own for each message: a send retried with it is stored once. */
  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** The message that has not been confirmed yet keeps its id: sending the same again (after a
   *  network error, or the one automatic retry) cannot store it twice. */
  function clientIdFor(text, payload) {
    const pending = state.pending;
    if (pending && pending.text === text && pending.payload === payload && pending.conv === state.conv) return pending.id;
    state.pending = { text, payload, conv: state.conv, id: newClientId() };
    return state.pending.id;
  }

  async function postMessage(text, payload) {
    const conv = await ensureConversation();
    const client_id = clientIdFor(text, payload);
    const body = payload ? { text, payload, client_id } : { text, client_id };
    try {
      return await api(convPath(conv, "/messages"), { method: "POST", body, conv });
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
      // The network failed before the answer came: once more, with the same id.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return api(convPath(conv, "/messages"), { method: "POST", body, conv });
    }
  }

  async function send(text, payload) {
    text = String(text || "").trim();
    if (!text) {
      showError(t("error_empty"));
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
      state.pending = null; // confirmed: the next message gets a new id
      if (res.language) setLanguage(res.language); // e.g. after the "In English" button
      addMessages(res.messages, false);
      if (res.state) state.convState = res.state;
      if (res.state === "bot") {
        state.lastInfo = null;
        setStatus("");
        hideTyping();
      } else {
        poll(); // show the place in line or the official at once
      }
      return true;
    } catch (err) {
      showError(err instanceof TypeError ? t("error_send") : err.message);
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
      showError(t("error_nothing_to_download"));
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
        t("download_title", VALUES),
        t("download_when", { tid: fmtDateTime(now.toISOString()) }),
        "",
        ...all.map((m) => `${fmtDateTime(m.created_at)} ${authorName(m, true)}: ${m.text}`),
      ];
      const blob = new Blob([lines.join("\n") + "\n"], { type: "text/plain;charset=utf-8" });
      const url = URL.createObjectURL(blob);
      const link = el("a", { href: url, download: `${slug(t("download_file")) || "chat"}-${slug(MUNICIPALITY)}-${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}.txt` });
      link.hidden = true;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 5000);
      showError("");
    } catch (err) {
      showError(t("error_download"));
    } finally {
      ui.download.disabled = false;
    }
  }

  /* ---------- opening and closing ---------- */

  /** The launcher's label, with the number of messages that came while the chat was closed. */
  function updateLauncher() {
    if (!ui) return;
    const n = state.open ? 0 : state.unread;
    stats.open = state.open;
    stats.unread = n;
    const had = ui.badge.textContent !== "";
    ui.badge.textContent = n ? String(n) : "";
    ui.badge.hidden = !n;
    ui.unreadText.textContent = n ? ` (${t(n === 1 ? "unread_one" : "unread_many", { antal: n })})` : "";
    // Said once by a screen reader when the first unread message comes in.
    const notice = n ? t("unread_notice") : "";
    if (!n || !had) ui.announce.textContent = notice;
  }

  /** Open the chat; the conversation (and with it the assistant's welcome) starts only now. */
  function openPanel(focus) {
    state.open = true;
    state.unread = 0;
    saveOpen();
    ui.root.classList.add("kc-root--open");
    ui.launcher.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.panel.hidden = false;
    updateLauncher();
    ui.scroll.scrollTop = ui.scroll.scrollHeight;
    if (focus) {
      // On a touch screen the keyboard would hide the welcome: put the focus on the history there.
      const touch = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;
      (touch ? ui.scroll : ui.input).focus({ preventScroll: true });
    }
    if (!state.conv) {
      ensureConversation().catch(() => showError(t("error_start")));
    }
  }

  function closePanel(focus) {
    state.open = false;
    saveOpen();
    ui.root.classList.remove("kc-root--open");
    ui.panel.hidden = true;
    ui.launcher.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "false");
    updateLauncher();
    if (focus) ui.launcher.focus();
  }

  /* ---------- building the UI ---------- */

  const ICON = '<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false">'
    + '<path fill="currentColor" d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9.4L5 21.6V18H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm0 2v11h3v1.4L8.6 16H20V5H4zm3 3h10v2H7V8zm0 4h7v2H7v-2z"/></svg>';

  function build() {
    const css = el("link", { rel: "stylesheet", href: new URL("widget.css", scriptUrl).href });
    document.head.append(css);

    const root = el("div", { id: "kc-root", class: "kc-root", lang: state.lang });

    // Closed: one small button in the lower right corner.
    const launcher = el("button", { type: "button", id: "kc-launcher", class: "kc-launcher", "aria-expanded": "false", "aria-controls": "kc-panel" });
    const icon = el("span", { class: "kc-launcher-icon", "aria-hidden": "true" });
    icon.innerHTML = ICON; // a constant of this script, never anything from a message
    const launcherText = labelled(el("span", { class: "kc-launcher-text" }), "launcher");
    const unreadText = el("span", { class: "kc-sr" });
    const badge = el("span", { class: "kc-badge", "aria-hidden": "true" });
    badge.hidden = true;
    launcher.append(icon, launcherText, unreadText, badge);
    // "Du har fått svar i chatten.": a polite live region, always in the page, said when an answer comes in while closed.
    const announce = el("p", { id: "kc-announce", class: "kc-sr", role: "status", "aria-live": "polite" });

    // Open: the chat itself.
    const panel = el("section", { id: "kc-panel", class: "kc-panel", "aria-labelledby": "kc-title" });
    panel.hidden = true;
    const header = el("div", { class: "kc-header" });
    const titleRow = el("div", { class: "kc-title-row" });
    const title = labelled(el("h2", { id: "kc-title", class: "kc-title" }), "title");
    const close = labelled(el("button", { type: "button", id: "kc-close", class: "kc-close" }), "close");
    titleRow.append(title, close);
    const status = el("p", { id: "kc-status", class: "kc-status", role: "status" });
    status.hidden = true;
    header.append(titleRow, status);

    const body = el("div", { id: "kc-body", class: "kc-body" });
    // Focusable, so that the history can be scrolled with the keyboard alone.
    const scroll = labelled(el("div", { class: "kc-scroll", tabindex: "0", role: "group" }), "history", "aria-label");
    const notice = labelled(el("p", { class: "kc-notice" }), "notice");
    const list = labelled(el("div", { id: "kc-messages", class: "kc-messages", role: "log", "aria-live": "polite" }), "messages", "aria-label");
    scroll.append(notice, list);

    // "Anna Holm skriver …": always in the page (a live region must exist before it speaks), empty when nobody types.
    const typing = el("p", { id: "kc-typing", class: "kc-typing", role: "status", "aria-live": "polite" });

    const error = el("p", { id: "kc-error", class: "kc-error", role: "alert" });
    error.hidden = true;

    const form = el("form", { id: "kc-form", class: "kc-form", novalidate: true });
    const label = labelled(el("label", { for: "kc-input", class: "kc-label" }), "input_label");
    const row = el("div", { class: "kc-row" });
    const input = el("textarea", { id: "kc-input", class: "kc-input", name: "text", rows: "2", maxlength: "4000", autocomplete: "off", "aria-describedby": "kc-hint" });
    const sendBtn = labelled(el("button", { type: "submit", class: "kc-send" }), "send");
    row.append(input, sendBtn);
    const hint = labelled(el("p", { id: "kc-hint", class: "kc-hint" }), "hint");
    form.append(label, row, hint);

    const tools = el("div", { class: "kc-tools" });
    const dl = labelled(el("button", { type: "button", id: "kc-download", class: "kc-download" }), "download");
    tools.append(dl);

    body.append(scroll, typing, error, form, tools);
    panel.append(header, body);
    root.append(launcher, panel, announce);
    document.body.append(root);

    ui = { root, launcher, badge, unreadText, announce, panel, body, scroll, list, status, typing, error, form, input, send: sendBtn, download: dl, close };

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = input.value;
      if (!text.trim()) {
        showError(t("error_empty"));
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
    launcher.addEventListener("click", () => openPanel(true));
    close.addEventListener("click", () => closePanel(true));
    // On the document, not the panel: a pressed quick reply is disabled at once, and the focus then
    // leaves the panel for the page's body, where Escape must still close the open chat.
    document.addEventListener("keydown", (event) => {
      const inside = panel.contains(event.target) || event.target === document.body;
      if (event.key === "Escape" && !event.isComposing && !panel.hidden && inside) {
        event.preventDefault();
        closePanel(true);
      }
    });
  }

  /** The texts for the first language that answers; without any, try again a little later (the chat cannot work anyway). */
  async function firstTexts(lang) {
    for (let wait = 1000; ; wait = Math.min(wait * 2, TEXTS_RETRY_MAX_MS)) {
      for (const candidate of lang === "sv" ? ["sv"] : [lang, "sv"]) {
        try {
          state.texts = await loadTexts(candidate);
          state.lang = candidate;
          stats.language = candidate;
          return;
        } catch (_) { /* next language, or wait */ }
      }
      await new Promise((resolve) => { setTimeout(resolve, wait); });
    }
  }

  async function start() {
    state.conv = loadConv();
    await firstTexts(state.conv ? state.conv.language : PAGE_LANGUAGE);
    build();
    if (state.conv) {
      state.conv.lastSeq = 0; // show the whole conversation again after a reload
      ui.list.setAttribute("aria-busy", "true"); // ...without reading it all out again
    }
    if (loadOpen()) openPanel(false); // left open on the last page: open again, without taking the focus
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

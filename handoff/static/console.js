/* Kommunchatt – the officials' console. Plain ES2020, no dependencies.
 * Resident text is only ever inserted with textContent. */
(() => {
  "use strict";

  // News come over WebSockets (one for the queue, one for the open chat). Polling is the fallback: every second
  // while a socket is down, every 10 seconds while it is up, so nothing depends on the sockets alone.
  const POLL_MS = 1000;
  const POLL_LIVE_MS = 10000;
  const TYPING_SEND_MS = 3000; // tell the resident "the official is typing" at most this often
  const TYPING_SHOW_MS = 5000; // "Invånaren skriver …" goes away this long after the last sign of typing
  /* Saved replies: inserted into the reply box, never sent by themselves. {namn} and {titel} are the
   * logged-in official's own name and title. Edit this list to change them. */
  const SAVED_REPLIES = [
    { label: "Hälsning", text: "Hej! Jag heter {namn} och hjälper dig gärna." },
    { label: "Ett ögonblick", text: "Tack! Ge mig en liten stund, så tittar jag på det." },
    { label: "Mer om frågan", text: "Kan du berätta lite mer? Till exempel vilken adress eller fastighet det gäller." },
    { label: "Inga personuppgifter", text: "Skriv inte ditt personnummer eller något om din hälsa här i chatten. Det behövs inte för att jag ska kunna hjälpa dig." },
    { label: "Ringer upp", text: "Det här är lättare att ta på telefon. Skriv ditt telefonnummer, så ringer jag dig i dag." },
    { label: "Avslutning", text: "Tack för att du hörde av dig! Skriv igen här om du har fler frågor." },
  ];
  const AUTHORS = { resident: "Invånare", bot: "Automatisk assistent", system: "System" };
  const STATES = { bot: "Assistenten svarar", waiting: "Väntar på handläggare", with_official: "Pågår med handläggare", closed: "Avslutat" };
  const DETAILS = {
    "wrong username or password": "Fel användarnamn eller lösenord.",
    "too many failed logins; try again later": "För många misslyckade inloggningar. Försök igen senare.",
    "this chat is not yours": "Det här samtalet är inte ditt.",
    "no such open chat": "Samtalet finns inte eller är redan avslutat.",
    "no such conversation": "Samtalet finns inte eller går inte att visa.",
    "missing or wrong CSRF token": "Sessionen är ogiltig. Ladda om sidan.",
    "empty reply": "Skriv ett svar innan du skickar.",
  };

  const $ = (id) => document.getElementById(id);
  const ui = {};
  let me = null;
  let csrf = "";
  let generation = 0; // bumped on login/logout so old polling loops stop
  let knownHandoffs = null; // handoff ids seen in the previous queue poll (null = not loaded yet)
  const queueItems = new Map(); // handoff_id -> <li>
  let chat = null; // { id, handoffId, lastSeq, seen, polling, again, item, live, typingSentAt }
  let consoleLive = null; // the queue's WebSocket (notices for all chats)
  let queuePolling = false;
  let queueAgain = false;
  let typingTimer = null;
  // Read-only figures for the browser tests and for debugging: events received over the sockets.
  const stats = { liveEvents: 0, chatLiveEvents: 0, connected: false, chatConnected: false };
  const hook = {};
  for (const key of Object.keys(stats)) Object.defineProperty(hook, key, { get: () => stats[key], enumerable: true });
  window.kommunchattConsole = Object.freeze(hook);

  /* ---------- helpers ---------- */

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
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }
  function show(node, text) {
    setText(node, text || "");
    node.hidden = !text;
  }
  const pad = (n) => String(n).padStart(2, "0");
  /** A time as the municipality's clock shows it (its time zone, from /me), whatever the computer's zone. */
  function fmtTime(iso) {
    const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(String(iso)) ? iso : `${iso}Z`); // the server means UTC
    if (Number.isNaN(d.getTime())) return "";
    const zone = (me && me.timezone) || "Europe/Stockholm";
    const parts = (date) => Object.fromEntries(new Intl.DateTimeFormat("sv-SE", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23",
    }).formatToParts(date).map((p) => [p.type, p.value]));
    const at = parts(d);
    const now = parts(new Date());
    const hm = `${at.hour}:${at.minute}`;
    const today = at.year === now.year && at.month === now.month && at.day === now.day;
    return today ? hm : `${at.year}-${at.month}-${at.day} ${hm}`;
  }
  function fmtWaiting(seconds) {
    const secs = Math.max(0, Math.floor(Number(seconds) || 0));
    if (secs < 60) return `väntat ${secs} s`;
    const minutes = Math.floor(secs / 60);
    if (minutes < 60) return `väntat ${minutes} min`;
    return `väntat ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }

  /* ---------- API ---------- */

  class ApiError extends Error {
    constructor(status, detail) {
      super(DETAILS[detail] || detail || `Något gick fel (${status}).`);
      this.status = status;
      this.detail = detail;
    }
  }

  async function api(path, { method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, {
        method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (_) {
      throw new ApiError(0, "Ingen kontakt med servern. Försöker igen.");
    }
    let data = null;
    if (res.status !== 204) {
      try { data = await res.json(); } catch (_) { /* no JSON body */ }
    }
    if (!res.ok) {
      const detail = data && typeof data.detail === "string" ? data.detail : (res.status === 422 ? "Ogiltiga uppgifter." : "");
      if (res.status === 401 && path !== "/api/console/login" && me) showLogin("Du är utloggad. Logga in igen.");
      throw new ApiError(res.status, detail);
    }
    return data;
  }
  const convPath = (id, rest) => `/api/console/conversations/${encodeURIComponent(id)}${rest}`;

  /* ---------- login / logout ---------- */

  function showLogin(message) {
    generation += 1;
    stopLive();
    me = null;
    csrf = "";
    chat = null;
    hideTyping();
    knownHandoffs = null;
    queueItems.clear();
    ui.queue.replaceChildren();
    ui.transcript.replaceChildren();
    ui.chat.hidden = true;
    ui.me.hidden = true;
    ui.appView.hidden = true;
    ui.loginView.hidden = false;
    setText(ui.loginError, message || "");
    ui.username.focus();
  }

  function showApp(data) {
    generation += 1;
    me = data;
    csrf = data.csrf_token;
    setText(ui.meName, data.name);
    setText(ui.meTitle, data.title);
    ui.presence.checked = Boolean(data.present);
    ui.me.hidden = false;
    ui.loginView.hidden = true;
    ui.appView.hidden = false;
    setText(ui.loginError, "");
    fillSavedReplies();
    loadColleagues();
    const gen = generation;
    startLive(gen);
    loop(gen, pollQueue, () => (consoleLive && consoleLive.up ? POLL_LIVE_MS : POLL_MS));
    loop(gen, pollChat, () => (chat && chat.live && chat.live.up ? POLL_LIVE_MS : POLL_MS));
  }

  async function login(event) {
    event.preventDefault();
    const username = ui.username.value.trim();
    const password = ui.password.value;
    if (!username || !password) {
      setText(ui.loginError, "Fyll i användarnamn och lösenord.");
      return;
    }
    ui.loginSubmit.disabled = true;
    setText(ui.loginError, "");
    try {
      const data = await api("/api/console/login", { method: "POST", body: { username, password } });
      ui.password.value = "";
      showApp(data);
    } catch (err) {
      setText(ui.loginError, err.message);
      ui.password.focus();
    } finally {
      ui.loginSubmit.disabled = false;
    }
  }

  async function logout() {
    try {
      await api("/api/console/logout", { method: "POST" });
    } catch (_) { /* logged out anyway */ }
    showLogin("Du är utloggad.");
  }

  async function setPresence() {
    const wanted = ui.presence.checked;
    ui.presence.disabled = true;
    try {
      const data = await api("/api/console/presence", { method: "PUT", body: { present: wanted } });
      ui.presence.checked = Boolean(data.present);
      show(ui.appError, "");
    } catch (err) {
      ui.presence.checked = !wanted;
      show(ui.appError, `Det gick inte att ändra närvaro: ${err.message}`);
    } finally {
      ui.presence.disabled = false;
    }
  }

  async function loadColleagues() {
    try {
      const list = await api("/api/console/colleagues");
      const selected = ui.transferTo.value;
      const options = [el("option", { value: "" }, "Välj kollega")];
      for (const c of list) options.push(el("option", { value: String(c.id) }, c.title ? `${c.name}, ${c.title}` : c.name));
      ui.transferTo.replaceChildren(...options);
      ui.transferTo.value = selected;
    } catch (_) { /* the transfer form says so when used */ }
  }

  /** Run `fn` again `delay()` ms after it finished (never overlapping) until the session generation changes. */
  function loop(gen, fn, delay) {
    if (gen !== generation) return;
    fn(gen).finally(() => setTimeout(() => loop(gen, fn, delay), delay()));
  }

  /* ---------- live: WebSockets ---------- */

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
        const first = hello && hello();
        if (ws === sock && first) sock.send(JSON.stringify(first));
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
      timer = setTimeout(connect, base / 2 + Math.random() * (base / 2));
    }
    connect();
    return {
      get up() { return up; },
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

  const wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;

  function startLive(gen) {
    stopLive();
    consoleLive = reconnectingSocket({
      url: `${wsBase}/api/console/ws`,
      hello: null, // the session cookie is enough
      onUp: () => {
        stats.connected = true;
        pollQueue(gen); // catch up with what happened while the socket was down
      },
      onDown: (code) => {
        stats.connected = false;
        if (code === 4401) pollQueue(gen); // the session is over: the poll's 401 shows the login form
      },
      onEvent: (event) => {
        if (gen !== generation) return;
        stats.liveEvents += 1;
        consoleEvent(gen, event);
      },
    });
  }

  function stopLive() {
    if (consoleLive) consoleLive.stop();
    consoleLive = null;
    stats.connected = false;
    if (chat && chat.live) chat.live.stop();
    stats.chatConnected = false;
  }

  /** Notices about all chats (ids only): fetch what changed with the API. */
  function consoleEvent(gen, event) {
    const id = event.conversation_id;
    switch (event.type) {
      case "queue":
      case "state":
        pollQueue(gen);
        break;
      case "message":
        // the open chat's own socket brings its messages; without it, fetch them now
        if (chat && chat.id === id && !(chat.live && chat.live.up)) pollChat(gen);
        break;
      case "typing":
        if (event.who === "resident" && id) residentTyping(id);
        break;
      case "emergency":
        showEmergency(gen, id);
        break;
      default:
        break;
    }
  }

  /** One chat's messages, live, resuming after the last message shown with nothing missing before it. */
  function startChatLive(current, gen) {
    if (current.live || chat !== current || gen !== generation) return;
    current.live = reconnectingSocket({
      url: `${wsBase}${convPath(current.id, "/ws")}`,
      hello: () => ({ after: current.lastSeq }),
      onUp: () => { if (chat === current) stats.chatConnected = true; },
      onDown: (code) => {
        if (chat === current) stats.chatConnected = false;
        if (code === 4401 || code === 4404) pollChat(gen); // the poll says what is wrong
      },
      onEvent: (event) => {
        if (chat !== current || gen !== generation) return;
        stats.chatLiveEvents += 1;
        if (event.type === "message") {
          addChatMessages(current, [event], false);
        } else if (event.type === "state") {
          ui.transcript.removeAttribute("aria-busy"); // the history is in: announce only new messages
          pollQueue(gen);
        } else if (event.type === "typing" && event.who === "resident") {
          residentTyping(current.id);
        }
      },
    });
  }

  /* ---------- typing ---------- */

  /** The resident of `conversationId` is typing: mark the queue item and, if it is open, the chat view. */
  function residentTyping(conversationId) {
    const until = Date.now() + TYPING_SHOW_MS;
    for (const li of queueItems.values()) {
      if (li.dataset.conversationId === conversationId) {
        li.typingUntil = until;
        showQueueTyping(li);
      }
    }
    if (chat && chat.id === conversationId) showTyping();
  }

  function showTyping() {
    setText(ui.chatTyping, "Invånaren skriver …");
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_SHOW_MS);
  }
  function hideTyping() {
    clearTimeout(typingTimer);
    typingTimer = null;
    if (ui.chatTyping) setText(ui.chatTyping, "");
  }

  function showQueueTyping(li) {
    const typing = li.querySelector(".q-typing");
    const on = (li.typingUntil || 0) > Date.now();
    if (typing.hidden === on) typing.hidden = !on;
  }

  /** Tell the resident that the official is typing: only in the official's own chat, at most every TYPING_SEND_MS. */
  function officialTyping() {
    const current = chat;
    if (!current || !current.item || !ui.replyInput.value.trim()) return;
    const item = current.item;
    if (!item.mine || !item.claimed || item.state !== "with_official") return;
    const now = Date.now();
    if (now - current.typingSentAt < TYPING_SEND_MS) return;
    current.typingSentAt = now;
    api(convPath(current.id, "/typing"), { method: "POST" }).catch(() => { /* only a courtesy: never an error */ });
  }

  /** Every second: the waiting times count on, and "skriver …" in the queue goes away. */
  function tick() {
    const now = performance.now();
    for (const li of queueItems.values()) {
      if (li.waitBase !== undefined) setText(li.querySelector(".q-wait"), fmtWaiting(li.waitBase + (now - li.waitAt) / 1000));
      if (li.typingUntil) showQueueTyping(li);
    }
    if (now - deliveriesAt > 3000) pollDeliveries(); // Telegram chats: sent, still trying, blocked
  }

  /* ---------- queue ---------- */

  async function pollQueue(gen) {
    if (queuePolling) {
      queueAgain = true; // a change during a fetch: fetch once more afterwards
      return;
    }
    queuePolling = true;
    try {
      const items = await api("/api/console/queue");
      if (gen !== generation) return;
      renderQueue(items);
      show(ui.queueError, "");
    } catch (err) {
      if (gen === generation && err.status !== 401) show(ui.queueError, `Kön kunde inte hämtas: ${err.message}`);
    } finally {
      queuePolling = false;
      if (queueAgain) {
        queueAgain = false;
        if (gen === generation) pollQueue(gen);
      }
    }
  }

  function buildQueueItem(item) {
    const li = el("li", { class: "queue-item" });
    const open = el("button", { type: "button", class: "open" });
    open.append(el("span", { class: "sr-only" }, "Öppna samtalet: "), el("span", { class: "q-topic" }),
      el("span", { class: "q-mine badge", hidden: true }, "Din"));
    const question = el("p", { class: "q-question" });
    const meta = el("p", { class: "q-meta" });
    meta.append(el("span", { class: "q-wait" }), el("span", { class: "q-official" }), el("span", { class: "q-state" }),
      el("span", { class: "q-typing", hidden: true }, "Invånaren skriver …"));
    const after = el("p", { class: "q-after", hidden: true });
    const claim = el("button", { type: "button", class: "claim" }, "Ta ärendet");
    li.append(open, question, meta, after, claim);
    li.addEventListener("click", (event) => {
      if (event.target.closest(".claim")) return;
      openChat(li.itemData);
    });
    claim.addEventListener("click", () => claimHandoff(li.itemData, claim));
    return li;
  }

  function updateQueueItem(li, item) {
    li.itemData = item;
    li.dataset.conversationId = item.conversation_id;
    li.dataset.handoffId = String(item.handoff_id);
    li.classList.toggle("mine", item.mine);
    li.classList.toggle("claimed", item.claimed);
    const topic = item.topic_label || item.topic || "Okänt ämne";
    setText(li.querySelector(".q-topic"), topic);
    li.querySelector(".q-mine").hidden = !item.mine;
    setText(li.querySelector(".q-question"), item.question || "(ingen fråga angiven)");
    if (li.waitSeconds !== item.waiting_seconds) { // counted on locally between fetches (see tick)
      li.waitSeconds = item.waiting_seconds;
      li.waitBase = Number(item.waiting_seconds) || 0;
      li.waitAt = performance.now();
    }
    setText(li.querySelector(".q-wait"), fmtWaiting(li.waitBase + (performance.now() - li.waitAt) / 1000));
    if (item.resident_typing && !(consoleLive && consoleLive.up)) li.typingUntil = Math.max(li.typingUntil || 0, Date.now() + 1500);
    showQueueTyping(li);
    const who = item.official ? item.official.name : "";
    setText(li.querySelector(".q-official"), item.claimed ? `tagen av ${who || "någon"}` : (who ? `tilldelad ${who}` : "inte tilldelad"));
    setText(li.querySelector(".q-state"), STATES[item.state] || item.state || "");
    const after = li.querySelector(".q-after");
    after.hidden = !item.after_hours;
    setText(after, item.after_hours ? `Efter öppettid${item.answer_by ? `, svar senast ${fmtTime(item.answer_by)}` : ""}` : "");
    const claim = li.querySelector(".claim");
    claim.hidden = item.claimed;
    claim.setAttribute("aria-label", `Ta ärendet: ${topic}`);
    const current = chat && chat.id === item.conversation_id;
    if (current) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
  }

  function renderQueue(items) {
    const ids = new Set();
    const fresh = [];
    items.forEach((item, index) => {
      const key = String(item.handoff_id);
      ids.add(key);
      let li = queueItems.get(key);
      if (!li) {
        li = buildQueueItem(item);
        queueItems.set(key, li);
        if (knownHandoffs && !knownHandoffs.has(key)) fresh.push(item);
      }
      updateQueueItem(li, item);
      if (ui.queue.children[index] !== li) ui.queue.insertBefore(li, ui.queue.children[index] || null);
      if (chat && chat.id === item.conversation_id) {
        showChatFacts(item);
        if (item.resident_typing && !(chat.live && chat.live.up)) showTyping(); // the fallback when the socket is down
      }
    });
    for (const [key, li] of queueItems) {
      if (!ids.has(key)) {
        li.remove();
        queueItems.delete(key);
      }
    }
    knownHandoffs = ids;
    ui.queueEmpty.hidden = items.length > 0;
    if (fresh.length) {
      const first = fresh[0];
      const label = first.topic_label || first.topic || "okänt ämne";
      show(ui.queueNotice, fresh.length === 1 ? `Nytt ärende i kön: ${label}` : `${fresh.length} nya ärenden i kön`);
      for (const item of fresh) {
        const li = queueItems.get(String(item.handoff_id));
        li.classList.add("new");
        setTimeout(() => li.classList.remove("new"), 8000);
      }
      beep();
      flagTitle(fresh.length);
    }
  }

  /* A new chat is also shown in the tab's title until the official comes back to the tab. */
  const BASE_TITLE = document.title;
  let unseen = 0;
  function flagTitle(count) {
    if (!document.hidden && document.hasFocus()) return;
    unseen += count;
    document.title = `(${unseen}) Nytt ärende – ${BASE_TITLE}`;
  }
  function clearTitle() {
    unseen = 0;
    document.title = BASE_TITLE;
  }

  async function claimHandoff(item, button) {
    button.disabled = true;
    show(ui.queueError, "");
    try {
      await api(`/api/console/handoffs/${encodeURIComponent(item.handoff_id)}/claim`, { method: "POST" });
      openChat(item);
      show(ui.chatNotice, "Du har tagit ärendet.");
      ui.replyInput.focus();
    } catch (err) {
      const text = err.status === 409 ? `Det gick inte att ta ärendet: ${err.detail || err.message}` : err.message;
      show(ui.queueError, text);
    } finally {
      button.disabled = false;
    }
  }

  /* ---------- beep (only once the user has interacted, as browsers require) ---------- */

  let audio = null;
  function unlockAudio() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audio) audio = new Ctx();
    if (audio.state === "suspended") audio.resume().catch(() => {});
  }
  function beep() {
    if (!audio || audio.state !== "running") return;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.2, audio.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.3);
  }

  /** A resident wrote about real danger: the switchboard has told them to call 112; the official sees it at
   *  once, above the queue, with the chat one click away. */
  function showEmergency(gen, id) {
    pollQueue(gen);
    emergencyChat = id;
    setText(ui.emergencyText, "Akut: en invånare skriver att någon kan vara i fara. Invånaren har fått rådet att ringa 112. Läs chatten nu.");
    ui.emergency.hidden = false;
    beep();
  }
  let emergencyChat = null;

  /* ---------- chat view ---------- */

  function showChatFacts(item) {
    if (chat && chat.id === item.conversation_id) chat.item = item;
    setText(ui.chatTopic, item.topic_label || item.topic || "–");
    setText(ui.chatQuestion, item.question || "–");
    const who = item.official ? item.official.name : "";
    setText(ui.chatStatus, `${STATES[item.state] || item.state || ""}${who ? ` · ${item.mine ? "ditt ärende" : who}` : ""}`);
  }

  function openChat(item) {
    if (!item) return;
    if (!chat || chat.id !== item.conversation_id) {
      if (chat && chat.live) chat.live.stop();
      stats.chatConnected = false;
      hideTyping();
      chat = { id: item.conversation_id, handoffId: item.handoff_id, lastSeq: 0, seen: new Set(), polling: false,
               again: false, item, live: null, typingSentAt: 0 };
      const current = chat;
      const gen = generation;
      ui.transcript.replaceChildren();
      ui.transcript.setAttribute("aria-busy", "true"); // the history loads silently; new messages are announced
      show(ui.chatError, "");
      show(ui.chatNotice, "");
      ui.replyInput.value = "";
      ui.transferReason.value = "";
      // the history first (over HTTP, silently), then the socket resumes after it
      pollChat(gen).finally(() => startChatLive(current, gen));
      loadColleagues();
    }
    showChatFacts(item);
    for (const li of queueItems.values()) updateQueueItem(li, li.itemData);
    ui.chat.hidden = false;
    ui.chatHeading.focus();
  }

  function hideChat() {
    const id = chat && chat.id;
    if (chat && chat.live) chat.live.stop();
    stats.chatConnected = false;
    hideTyping();
    chat = null;
    ui.chat.hidden = true;
    ui.transcript.replaceChildren();
    for (const li of queueItems.values()) updateQueueItem(li, li.itemData);
    const li = id && ui.queue.querySelector(`.queue-item[data-conversation-id="${CSS.escape(id)}"] .open`);
    if (li) li.focus();
  }

  function authorLabel(msg) {
    if (msg.author === "official") {
      if (!msg.official) return "Handläggare";
      return msg.official.title ? `${msg.official.name}, ${msg.official.title}` : msg.official.name;
    }
    return AUTHORS[msg.author] || msg.author;
  }

  // What became of a message sent out on Telegram, in words the official can act on.
  const DELIVERY = {
    pending: "Skickas …",
    sent: "Levererat",
    failed: "Kunde inte levereras",
    blocked: "Kom inte fram: invånaren har blockerat kommunens Telegram-bot",
  };

  function showDelivery(node, delivery) {
    let span = node.querySelector(".msg-delivery");
    if (!delivery) return;
    if (!span) {
      span = el("span", { class: "msg-delivery" });
      node.querySelector(".msg-meta").append(" ", span);
    }
    span.dataset.state = delivery.state;
    setText(span, DELIVERY[delivery.state] || delivery.state);
  }

  let deliveriesAt = 0;
  async function pollDeliveries() {
    const current = chat;
    if (!current || !current.item || current.item.channel !== "telegram") return;
    deliveriesAt = performance.now();
    try {
      const rows = await api(convPath(current.id, "/deliveries"));
      if (chat !== current) return;
      for (const d of rows) {
        const node = ui.transcript.querySelector(`.msg[data-seq="${Number(d.seq)}"]`);
        if (node) showDelivery(node, d);
      }
    } catch (err) {
      /* the next tick tries again */
    }
  }

  function renderChatMessage(msg) {
    const node = el("div", { class: `msg msg-${msg.author}`, "data-author": msg.author, "data-seq": String(msg.seq) });
    const meta = el("p", { class: "msg-meta" });
    meta.append(el("span", { class: "msg-who" }, authorLabel(msg)));
    const time = fmtTime(msg.created_at);
    if (time) meta.append(" ", el("time", { datetime: msg.created_at }, time));
    if (msg.delivery) {
      const span = el("span", { class: "msg-delivery", "data-state": msg.delivery.state },
                      DELIVERY[msg.delivery.state] || msg.delivery.state);
      meta.append(" ", span);
    }
    node.append(meta, el("p", { class: "msg-text" }, msg.text));
    if (Array.isArray(msg.buttons) && msg.buttons.length) {
      const titles = msg.buttons.map((b) => b && b.title).filter(Boolean).join(" · ");
      node.append(el("p", { class: "msg-buttons" }, `Knappar: ${titles}`));
    }
    return node;
  }

  function addChatMessages(current, messages, complete) {
    if (chat !== current) return;
    const box = ui.transcript;
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    let added = false;
    for (const msg of messages) {
      const seq = Number(msg.seq);
      if (!Number.isInteger(seq) || current.seen.has(seq)) continue;
      current.seen.add(seq);
      const later = Array.from(box.querySelectorAll(".msg")).find((n) => Number(n.dataset.seq) > seq);
      box.insertBefore(renderChatMessage(msg), later || null);
      added = true;
      if (msg.author === "resident") hideTyping(); // the resident has finished writing
    }
    if (complete) for (const msg of messages) current.lastSeq = Math.max(current.lastSeq, Number(msg.seq) || 0);
    while (current.seen.has(current.lastSeq + 1)) current.lastSeq += 1;
    if (added && nearBottom) box.scrollTop = box.scrollHeight;
  }

  async function pollChat(gen) {
    const current = chat;
    if (!current || gen !== generation) return;
    if (current.polling) {
      current.again = true;
      return;
    }
    current.polling = true;
    try {
      let page;
      do {
        page = await api(convPath(current.id, `/messages?after=${current.lastSeq}`));
        addChatMessages(current, page, true);
      } while (chat === current && page.length >= 500);
      if (chat === current) ui.transcript.removeAttribute("aria-busy");
      if (chat === current && ui.chatError.dataset.kind === "poll") show(ui.chatError, "");
    } catch (err) {
      if (chat === current && err.status !== 401) {
        show(ui.chatError, err.status === 404 ? "Samtalet går inte längre att visa. Det kan ha flyttats eller avslutats." : err.message);
        ui.chatError.dataset.kind = "poll";
      }
    } finally {
      current.polling = false;
      if (current.again) {
        current.again = false;
        if (chat === current) pollChat(gen);
      }
    }
  }

  /** Run a chat action (POST) and report the outcome in the chat view. */
  async function act(button, path, body, done) {
    if (!chat) return false;
    const current = chat;
    button.disabled = true;
    show(ui.chatError, "");
    show(ui.chatNotice, "");
    try {
      const result = await api(convPath(current.id, path), { method: "POST", body });
      if (done) show(ui.chatNotice, done);
      pollQueue(generation);
      return result || true;
    } catch (err) {
      show(ui.chatError, err.message);
      ui.chatError.dataset.kind = "action";
      return false;
    } finally {
      button.disabled = false;
    }
  }

  async function reply(event) {
    event.preventDefault();
    const text = ui.replyInput.value.trim();
    if (!text) {
      show(ui.chatError, "Skriv ett svar innan du skickar.");
      ui.replyInput.focus();
      return;
    }
    const current = chat;
    const msg = await act(ui.replySubmit, "/messages", { text }, "");
    if (msg && typeof msg === "object") {
      if (ui.replyInput.value.trim() === text) ui.replyInput.value = "";
      addChatMessages(current, [msg], false);
      ui.transcript.scrollTop = ui.transcript.scrollHeight;
    }
  }

  async function closeChat(event) {
    event.preventDefault();
    const label = ui.outcome.options[ui.outcome.selectedIndex].text;
    await act(ui.closeBtn, "/close", { outcome: ui.outcome.value }, `Samtalet är avslutat (${label}).`);
  }

  async function returnToBot() {
    await act(ui.returnBtn, "/return-to-bot", undefined, "Samtalet är tillbaka hos den automatiska assistenten.");
  }

  async function transfer(event) {
    event.preventDefault();
    const id = Number(ui.transferTo.value);
    if (!id) {
      show(ui.chatError, "Välj en kollega att flytta samtalet till.");
      ui.transferTo.focus();
      return;
    }
    const name = ui.transferTo.options[ui.transferTo.selectedIndex].text;
    const ok = await act(ui.transferBtn, "/transfer", { official_id: id, reason: ui.transferReason.value.trim() },
      `Samtalet är flyttat till ${name}.`);
    if (ok) ui.transferReason.value = "";
  }

  /* ---------- saved replies ---------- */

  function fillSavedReplies() {
    const options = [el("option", { value: "" }, "Välj ett sparat svar")];
    SAVED_REPLIES.forEach((r, i) => options.push(el("option", { value: String(i) }, `${r.label}: ${savedText(i)}`)));
    ui.savedReply.replaceChildren(...options);
  }

  function savedText(index) {
    const r = SAVED_REPLIES[index];
    if (!r) return "";
    return r.text.replaceAll("{namn}", me ? me.name : "").replaceAll("{titel}", me ? me.title : "");
  }

  /** Put the chosen saved reply where the cursor is in the reply box (or at its end). */
  function insertSavedReply() {
    const text = savedText(Number(ui.savedReply.value === "" ? -1 : ui.savedReply.value));
    if (!text) {
      show(ui.chatError, "Välj ett sparat svar först.");
      ui.chatError.dataset.kind = "action";
      ui.savedReply.focus();
      return;
    }
    const box = ui.replyInput;
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? box.value.length;
    const before = box.value.slice(0, start);
    const glue = before && !/\s$/.test(before) ? " " : "";
    box.value = `${before}${glue}${text}${box.value.slice(end)}`;
    const caret = before.length + glue.length + text.length;
    box.focus();
    box.setSelectionRange(caret, caret);
    ui.savedReply.value = "";
  }

  /* ---------- start ---------- */

  function enterSends(textarea, form) {
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (typeof form.requestSubmit === "function") form.requestSubmit();
        else form.dispatchEvent(new Event("submit", { cancelable: true }));
      }
    });
  }

  async function start() {
    Object.assign(ui, {
      me: $("me"), meName: $("me-name"), meTitle: $("me-title"), presence: $("presence"), logout: $("logout"),
      appError: $("app-error"), loginView: $("login-view"), loginForm: $("login-form"), username: $("login-username"),
      password: $("login-password"), loginSubmit: $("login-submit"), loginError: $("login-error"),
      appView: $("app-view"), queue: $("queue"), queueNotice: $("queue-notice"), queueError: $("queue-error"),
      queueEmpty: $("queue-empty"), chat: $("chat"), chatHeading: $("chat-heading"), chatHide: $("chat-hide"),
      chatTopic: $("chat-topic"), chatQuestion: $("chat-question"), chatStatus: $("chat-status"),
      emergency: $("emergency"), emergencyText: $("emergency-text"), emergencyOpen: $("emergency-open"),
      transcript: $("transcript"), chatError: $("chat-error"), chatNotice: $("chat-notice"),
      replyForm: $("reply-form"), replyInput: $("reply-input"), replySubmit: $("reply-submit"),
      returnBtn: $("return-to-bot"), closeForm: $("close-form"), outcome: $("outcome"), closeBtn: $("close"),
      transferForm: $("transfer-form"), transferTo: $("transfer-to"), transferReason: $("transfer-reason"),
      transferBtn: $("transfer"), savedReply: $("saved-reply"), savedInsert: $("saved-insert"),
      chatTyping: $("chat-typing"),
    });
    fillSavedReplies();
    ui.savedInsert.addEventListener("click", insertSavedReply);
    window.addEventListener("focus", clearTitle);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) clearTitle(); });
    ui.loginForm.addEventListener("submit", login);
    ui.logout.addEventListener("click", logout);
    ui.presence.addEventListener("change", setPresence);
    ui.replyForm.addEventListener("submit", reply);
    ui.closeForm.addEventListener("submit", closeChat);
    ui.transferForm.addEventListener("submit", transfer);
    ui.returnBtn.addEventListener("click", returnToBot);
    ui.chatHide.addEventListener("click", hideChat);
    ui.emergencyOpen.addEventListener("click", () => {
      const li = [...queueItems.values()].find((x) => x.itemData && x.itemData.conversation_id === emergencyChat);
      if (li) openChat(li.itemData);
      ui.emergency.hidden = true;
    });
    enterSends(ui.replyInput, ui.replyForm);
    ui.replyInput.addEventListener("input", officialTyping);
    setInterval(tick, 1000);
    // Back online, or back to the tab: reconnect now instead of waiting out the back-off.
    const wake = () => {
      if (consoleLive) consoleLive.retryNow();
      if (chat && chat.live) chat.live.retryNow();
    };
    window.addEventListener("online", wake);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) wake(); });
    document.addEventListener("pointerdown", unlockAudio);
    document.addEventListener("keydown", unlockAudio);

    try {
      showApp(await api("/api/console/me"));
    } catch (err) {
      showLogin(err.status === 401 ? "" : err.message);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

"""The residents' chat widget and the officials' console in a real browser (Debian's chromium,
driven by Playwright) against the real running system: action server, Rasa server, handoff service.

Every wait is one of Playwright's waits with a timeout; nothing sleeps for a fixed time."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import FIXTURES, PASSWORD, ROOT

pytestmark = pytest.mark.e2e

REPORTS = ROOT / "reports"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
BOT_WAIT_MS = 30_000  # the first answers of a freshly started Rasa server can take a few seconds
QUEUE_WAIT_MS = 2_000  # a handed-off chat must reach an official's open console this fast
ASK_FOR_PERSON = "Prata med en person"  # under "Fick du svar på din fråga?", after every answer
FEEDBACK_QUESTION = "Fick du svar på din fråga?"
WELCOME = "Hej! Jag är en automatisk assistent för Exempelby kommun."
LAUNCHER = "Chatta med oss"
HANDOFF_TEXT = re.compile(r"Jag kopplar dig till ([^,]+), ([^.]+)\.")
ROSTER = yaml.safe_load((FIXTURES / "roster_always.yml").read_text(encoding="utf-8"))["officials"]
USERNAMES = {o["name"]: o["username"] for o in ROSTER}
TITLES = {o["name"]: o["title"] for o in ROSTER}
PARTNER = {"Anna Holm": "Erik Sandberg", "Erik Sandberg": "Anna Holm",  # same unit, same topics
           "Linda Karlsson": "Hassan Omar", "Hassan Omar": "Linda Karlsson"}
XSS = ['<script>window.__pwned=1</script>', '<img src=x onerror="window.__pwned=1">']
AXE_SUMMARY: dict[str, dict] = {}


# ---------- fixtures ----------

@pytest.fixture(scope="module")
def browser() -> Browser:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def base(stack) -> str:
    return f"http://127.0.0.1:{stack.handoff_port}"


@pytest.fixture
def new_page(browser):
    """Pages in fresh browser contexts (own cookies and localStorage), closed after the test.
    Script errors on a page fail the test."""
    contexts, errors = [], []

    def make(viewport=DESKTOP, **kwargs) -> Page:
        ctx = browser.new_context(**{"viewport": viewport, "locale": "sv-SE", "timezone_id": "Europe/Stockholm",
                                     "accept_downloads": True, **kwargs})
        ctx.set_default_timeout(10_000)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert not errors, errors


# ---------- the resident's side ----------

def launcher_ready(page: Page):
    """The closed widget: its launcher on the screen, styled (fixed in the corner), the panel hidden."""
    launcher = page.locator("#kc-launcher")
    expect(launcher).to_be_visible()
    page.wait_for_function("() => getComputedStyle(document.querySelector('#kc-root')).position === 'fixed'")
    expect(page.locator("#kc-panel")).to_be_hidden()
    return launcher


def open_chat(page: Page) -> dict:
    """Click the launcher: the panel opens, the conversation starts and the assistant's welcome comes first."""
    launcher = launcher_ready(page)
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.click()
    expect(page.locator("#kc-panel")).to_be_visible()
    expect(launcher).to_be_hidden()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    return wait_bot_after(page, 0, "automati(sk|c) assistent")


def messages(page: Page) -> list[dict]:
    """What the widget shows: seq, author and text of every message, in the order shown."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('#kc-messages .kc-msg')).map((n) => ({
        seq: Number(n.dataset.seq), author: n.dataset.author,
        who: (n.querySelector('.kc-who') || {}).textContent || '',
        text: n.querySelector('.kc-text').textContent }))""")


def max_seq(page: Page) -> int:
    return max((m["seq"] for m in messages(page)), default=0)


def wait_bot_after(page: Page, seq: int, pattern: str | None = None) -> dict:
    """Wait for a bot message later than `seq` (whose text matches `pattern`, if given) and return it."""
    page.wait_for_function(
        """([seq, pattern]) => Array.from(document.querySelectorAll('#kc-messages .kc-msg[data-author=bot]'))
             .some((n) => Number(n.dataset.seq) > seq && (!pattern || new RegExp(pattern).test(n.textContent)))""",
        arg=[seq, pattern], timeout=BOT_WAIT_MS)
    return next(m for m in reversed(messages(page))
                if m["author"] == "bot" and m["seq"] > seq and (not pattern or re.search(pattern, m["text"])))


def say(page: Page, text: str, *, expect_bot: bool = True) -> dict | None:
    """The resident writes `text` and presses Enter; returns the bot's answer, the first of its messages
    after it (or None when a person has the chat). Returns once the whole send is done, so the bot's
    turn (an answer and "Fick du svar på din fråga?" after it) is on the screen."""
    before = max_seq(page)
    page.fill("#kc-input", text)
    page.press("#kc-input", "Enter")
    page.wait_for_function(
        """([seq, text]) => !document.querySelector('#kc-form').hasAttribute('aria-busy')
             && Array.from(document.querySelectorAll('#kc-messages .kc-msg[data-author=resident]'))
             .some((n) => Number(n.dataset.seq) > seq && n.querySelector('.kc-text').textContent === text)""",
        arg=[before, text], timeout=BOT_WAIT_MS)
    if not expect_bot:
        return None
    wait_bot_after(page, before)
    return next(m for m in messages(page) if m["author"] == "bot" and m["seq"] > before)


def ask_for_person(page: Page) -> tuple[str, str]:
    """Click the newest quick reply that asks for a person; returns the official named by the bot."""
    before = max_seq(page)
    page.locator(".kc-msg[data-author=bot] .kc-quick", has_text=ASK_FOR_PERSON).last.click()
    answer = wait_bot_after(page, before, HANDOFF_TEXT.pattern)
    name, title = HANDOFF_TEXT.search(answer["text"]).groups()
    return name, title


def type_for_person(page: Page) -> tuple[str, str]:
    """The resident writes that they want a person; returns the official named by the bot."""
    before = max_seq(page)
    say(page, "jag vill prata med en människa", expect_bot=False)
    answer = wait_bot_after(page, before, HANDOFF_TEXT.pattern)
    return HANDOFF_TEXT.search(answer["text"]).groups()


def quick_replies(page: Page, seq: int) -> list[str]:
    """The titles of the buttons under message `seq`."""
    return page.locator(f'#kc-messages .kc-msg[data-seq="{seq}"] .kc-quick').all_inner_texts()


def conversation_id(page: Page) -> str:
    return page.evaluate("() => JSON.parse(localStorage.getItem('kommunchatt')).id")


def assert_seqs_once_in_order(page: Page) -> list[int]:
    seqs = [m["seq"] for m in messages(page)]
    assert seqs == sorted(set(seqs)), seqs
    assert seqs == list(range(1, len(seqs) + 1)), seqs  # no gap: nothing lost
    return seqs


# ---------- the official's side ----------

def console_login(page: Page, base: str, name: str) -> None:
    if "/console" not in page.url:
        page.goto(f"{base}/console")
    page.fill("#login-username", USERNAMES[name])
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#me-name")).to_have_text(name)
    expect(page.locator("#queue")).to_be_attached()


def queue_item(page: Page, conv: str):
    return page.locator(f'#queue .queue-item[data-conversation-id="{conv}"]')


def claim(page: Page, conv: str) -> None:
    item = queue_item(page, conv)
    expect(item).to_be_visible()
    item.locator(".claim").click()
    expect(page.locator("#chat")).to_be_visible()
    expect(page.locator("#chat-notice")).to_have_text("Du har tagit ärendet.")
    expect(item.locator(".claim")).to_be_hidden()


def run_axe(page: Page, name: str) -> dict:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']});
        return {violations: r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.map((n) => n.target.join(' '))})),
                passes: r.passes.length, incomplete: r.incomplete.map((v) => v.id)};
    }""")
    counts = {impact: 0 for impact in ("critical", "serious", "moderate", "minor")}
    for v in result["violations"]:
        counts[v["impact"] or "minor"] = counts.get(v["impact"] or "minor", 0) + len(v["nodes"])
    summary = {"url": page.url, "counts": counts, "rules": sorted({v["id"] for v in result["violations"]}),
               "violations": result["violations"], "passed_rules": result["passes"],
               "incomplete_rules": result["incomplete"]}
    AXE_SUMMARY[name] = summary
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "axe-summary.json").write_text(json.dumps(AXE_SUMMARY, indent=2, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
    return summary


def axe_line(summary: dict) -> str:
    c = summary["counts"]
    rules = ",".join(summary["rules"]) or "-"
    return (f"{c['critical']} critical, {c['serious']} serious, {c['moderate']} moderate, {c['minor']} minor "
            f"(rules: {rules}; {summary['passed_rules']} rules passed)")


def assert_no_serious(summary: dict) -> None:
    bad = [v for v in summary["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, json.dumps(bad, indent=2, ensure_ascii=False)


# ---------- the tests ----------

def test_whole_handoff_resident_and_official(base, new_page):
    resident = new_page()
    resident.goto(f"{base}/")
    expect(launcher_ready(resident)).to_have_text(LAUNCHER)
    welcome = open_chat(resident)
    expect(resident.locator("#kc-root")).to_be_visible()
    expect(resident.locator("#kc-root .kc-notice")).to_contain_text("personnummer")

    # The assistant speaks first: who it is, with the most asked topics and the other language as buttons.
    assert welcome["seq"] == 1 and welcome["who"] == "Automatisk assistent", welcome
    assert welcome["text"].startswith(WELCOME) and "personnummer" in welcome["text"]
    topics = quick_replies(resident, 1)
    assert topics[-1] == "In English" and "Bygglov och anmälan" in topics, topics

    # The official is at the console before anyone asks (every bygglov official sees bygglov chats).
    official = new_page()
    console_login(official, base, "Anna Holm")
    expect(official.locator("#presence")).to_be_checked()

    answer = say(resident, "behöver jag bygglov för en altan")
    assert "bygglov" in answer["text"].lower()
    assert [m["seq"] for m in messages(resident) if m["author"] == "resident"] == [2]  # after the welcome
    assert resident.locator(".kc-msg[data-author=bot] .kc-who").last.inner_text() == "Automatisk assistent"
    # The answer has no buttons; the question after it has Ja / Nej and the way to a person.
    assert quick_replies(resident, answer["seq"]) == []
    asked = resident.locator(".kc-msg[data-author=bot]").last
    expect(asked.locator(".kc-text")).to_have_text(FEEDBACK_QUESTION)
    expect(asked.locator(".kc-quick")).to_have_text(["Ja", "Nej", ASK_FOR_PERSON])
    expect(asked.locator(".kc-quick").first).to_be_enabled()
    expect(resident.locator('.kc-msg[data-seq="1"] .kc-quick').first).to_be_disabled()  # the welcome's are old now

    name, title = ask_for_person(resident)
    asked_at = time.monotonic()
    assert name in {"Anna Holm", "Erik Sandberg"} and title == "bygglovshandläggare"
    conv = conversation_id(resident)

    # The open console shows the new chat within a second or two, with its waiting time and a notice.
    expect(queue_item(official, conv)).to_be_visible(timeout=QUEUE_WAIT_MS)
    print(f"\nqueue: the chat reached the open console {time.monotonic() - asked_at:.2f} s after the bot named {name}")
    expect(queue_item(official, conv).locator(".q-wait")).to_contain_text("väntat")
    expect(official.locator("#queue-notice")).to_contain_text("Nytt ärende i kön")

    # While waiting, the resident sees whom they wait for and their place in line.
    expect(resident.locator("#kc-status")).to_contain_text(f"Du väntar på {name}")
    expect(resident.locator("#kc-status")).to_contain_text(re.compile(r"nummer \d+ i kön"))

    # The official named by the bot takes the chat.
    if name != "Anna Holm":
        official.click("#logout")
        expect(official.locator("#login-username")).to_be_visible()
        console_login(official, base, name)
        expect(queue_item(official, conv)).to_be_visible(timeout=QUEUE_WAIT_MS)
    expect(queue_item(official, conv).locator(".q-topic")).to_have_text(re.compile("Bygglov", re.I))
    claim(official, conv)
    expect(official.locator("#chat-topic")).to_contain_text(re.compile("Bygglov", re.I))
    expect(official.locator("#chat-question")).to_contain_text("altan")
    transcript = official.locator("#transcript")
    expect(transcript.locator(".msg[data-author=resident]").first).to_have_text(re.compile("bygglov för en altan"))
    expect(transcript.locator(".msg[data-author=bot]").first).to_contain_text("Automatisk assistent")

    # A saved reply, completed by hand, then sent with Enter.
    official.select_option("#saved-reply", label=f"Hälsning: Hej! Jag heter {name} och hjälper dig gärna.")
    official.click("#saved-insert")
    expect(official.locator("#reply-input")).to_have_value(f"Hej! Jag heter {name} och hjälper dig gärna.")
    official.locator("#reply-input").press("End")
    official.locator("#reply-input").press_sequentially(" Hur stor blir altanen?")
    official.locator("#reply-input").press("Enter")
    expect(transcript.locator(".msg[data-author=official]").last).to_contain_text("Hur stor blir altanen?")
    expect(official.locator("#reply-input")).to_have_value("")

    # The resident sees the official's name, title, initials and reply.
    from_official = resident.locator(".kc-msg[data-author=official]").last
    expect(from_official).to_contain_text("Hur stor blir altanen?")
    expect(from_official.locator(".kc-who")).to_have_text(f"{name}, {title}")
    expect(from_official.locator(".kc-avatar")).to_have_text("".join(p[0] for p in name.split()))
    expect(resident.locator("#kc-status")).to_contain_text(f"Du pratar nu med {name}, {title}")
    expect(resident.locator(".kc-msg[data-author=system]")).to_contain_text([f"Du pratar nu med {name}, {title}."])

    # What the resident writes now goes to the official, not to the bot.
    before = max_seq(resident)
    say(resident, "ungefär 20 kvadratmeter", expect_bot=False)
    expect(transcript.locator(".msg[data-author=resident]").last).to_have_text(re.compile("ungefär 20 kvadratmeter"))
    assert [m["author"] for m in messages(resident) if m["seq"] > before] == ["resident"]

    # The official gives the chat back to the bot; the bot answers the next question.
    official.click("#return-to-bot")
    expect(official.locator("#chat-notice")).to_contain_text("tillbaka hos den automatiska assistenten")
    expect(resident.locator(".kc-msg[data-author=system]").last).to_contain_text("Nu svarar den automatiska assistenten igen")
    expect(resident.locator("#kc-status")).to_be_hidden()
    again = say(resident, "hur lång tid tar ett bygglov")
    assert again["who"] == "Automatisk assistent" and again["text"]
    assert_seqs_once_in_order(resident)


def test_reload_keeps_the_conversation(base, new_page):
    page = new_page()
    page.goto(f"{base}/")
    open_chat(page)
    say(page, "hej")
    say(page, "behöver jag bygglov för en altan")
    say(page, "vad kostar ett bygglov")
    before = messages(page)
    seqs = assert_seqs_once_in_order(page)
    assert len(before) >= 7  # the welcome, three questions, an answer to each
    conv = conversation_id(page)

    page.reload()
    # left open in this tab: open again after the reload, without a click
    expect(page.locator("#kc-panel")).to_be_visible()
    expect(page.locator("#kc-launcher")).to_be_hidden()
    expect(page.locator("#kc-messages .kc-msg")).to_have_count(len(before))
    assert conversation_id(page) == conv
    assert messages(page) == before  # the same messages, same seq, each once, in order
    # the socket resumes after the history, and the poll its first event asks for fetches after it:
    # wait for both and look again, nothing may be added twice
    page.wait_for_function("() => window.kommunchatt.connected && window.kommunchatt.polls >= 2")
    assert messages(page) == before

    answer = say(page, "hur lång tid tar ett bygglov")
    after = messages(page)
    assert after[: len(before)] == before
    assert [m["seq"] for m in after[len(before):]][:2] == [seqs[-1] + 1, seqs[-1] + 2]
    assert answer["author"] == "bot"
    assert_seqs_once_in_order(page)

    # "Ladda ner samtalet": the whole conversation with names and times.
    with page.expect_download() as info:
        page.click("#kc-download")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d ", line)]
    assert len(lines) >= len(after)  # one line per message (a message may span lines)
    assert "Du: behöver jag bygglov för en altan" in text
    assert "Automatisk assistent: " in text
    assert f"Automatisk assistent: {WELCOME}" in lines[0]  # the welcome comes first
    assert info.value.suggested_filename.startswith("samtal-exempelby-kommun-")


def with_official(new_page, base: str, resident: Page) -> tuple[Page, str, str, str]:
    """The resident (on the page already) asks for a person; the official the bot names takes the chat.
    Returns the official's page, name, title and the conversation id, with both sides' sockets up."""
    resident.goto(f"{base}/")
    open_chat(resident)
    say(resident, "behöver jag bygglov för en altan")
    name, title = ask_for_person(resident)
    conv = conversation_id(resident)
    official = new_page()
    console_login(official, base, name)
    claim(official, conv)
    expect(resident.locator("#kc-status")).to_contain_text(f"Du pratar nu med {name}")
    resident.wait_for_function("() => window.kommunchatt.connected")
    official.wait_for_function("() => window.kommunchattConsole.connected && window.kommunchattConsole.chatConnected")
    return official, name, title, conv


def test_live_delivery_and_typing_both_ways(base, new_page):
    resident = new_page()
    frames: list[dict] = []  # everything the server sent to the widget over its WebSocket

    def on_websocket(ws):
        if "/api/conversations/" in ws.url:
            ws.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    resident.on("websocket", on_websocket)
    official, name, title, conv = with_official(new_page, base, resident)
    resident_typing = official.locator("#chat-typing")
    official_typing = resident.locator("#kc-typing")
    for region in (resident_typing, official_typing):  # polite live regions, empty while nobody types
        expect(region).to_have_attribute("aria-live", "polite")
        expect(region).to_have_text("")

    # The resident types: the console shows it in the open chat and on the queue item, then forgets it.
    resident.locator("#kc-input").press_sequentially("Hur hög får", delay=20)
    expect(resident_typing).to_have_text("Invånaren skriver …", timeout=3_000)
    expect(queue_item(official, conv).locator(".q-typing")).to_be_visible()
    REPORTS.mkdir(exist_ok=True)
    official.screenshot(path=str(REPORTS / "console-typing.png"))
    assert_no_serious(run_axe(official, "console-typing"))
    expect(official_typing).to_have_text("")  # the resident's own typing is not shown to them
    expect(resident_typing).to_have_text("", timeout=10_000)  # about 5 s after the last keystroke
    expect(queue_item(official, conv).locator(".q-typing")).to_be_hidden(timeout=10_000)

    # The resident sends; the open console gets it over its socket, without a page action.
    chat_events = official.evaluate("() => window.kommunchattConsole.chatLiveEvents")
    resident.locator("#kc-input").press_sequentially(" altanen vara?")
    resident.press("#kc-input", "Enter")
    expect(official.locator("#transcript .msg[data-author=resident]").last).to_have_text(
        re.compile("Hur hög får altanen vara"), timeout=3_000)
    assert official.evaluate("() => window.kommunchattConsole.chatLiveEvents") > chat_events

    # The official types: the widget shows "<name> skriver …", then forgets it.
    official.locator("#reply-input").press_sequentially("Högst 1,8", delay=20)
    expect(official_typing).to_have_text(f"{name} skriver …", timeout=3_000)
    resident.screenshot(path=str(REPORTS / "widget-typing.png"))
    assert_no_serious(run_axe(resident, "widget-typing"))
    expect(official_typing).to_have_text("", timeout=10_000)

    # The reply reaches the open widget at once (polling is every 10 s while the socket is up) and over the socket.
    shown_live = resident.evaluate("() => window.kommunchatt.liveMessages")
    reply = "Högst 1,8 meter över marken utan bygglov."
    official.fill("#reply-input", reply)
    official.press("#reply-input", "Enter")
    expect(official.locator("#transcript .msg[data-author=official]").last).to_contain_text(reply)
    expect(resident.locator(".kc-msg[data-author=official]").last).to_contain_text(reply, timeout=3_000)
    expect(official_typing).to_have_text("")  # the message ends "skriver …" at once
    assert resident.evaluate("() => window.kommunchatt.liveMessages") > shown_live
    sent = [f for f in frames if f.get("type") == "message" and f.get("text") == reply]
    assert len(sent) == 1 and sent[0]["author"] == "official" and sent[0]["official"]["name"] == name, sent
    assert {"type": "typing", "who": "official", "name": name} in [
        {k: f.get(k) for k in ("type", "who", "name")} for f in frames]
    assert_seqs_once_in_order(resident)


def test_reconnect_resumes_without_loss_or_repeat(base, new_page):
    """The connection drops while the official writes; the widget reconnects by itself, resumes after the
    last message it has, and shows the missed message exactly once."""
    resident = new_page()
    hellos: list[dict] = []  # what the widget said when (re)connecting
    sockets = []
    refuse = {"on": False}

    def route(ws):  # the widget's socket passes through the test, which can cut it
        if refuse["on"]:
            ws.close(code=4000, reason="test: no network")
            return
        server = ws.connect_to_server()

        def from_page(message):
            hellos.append(json.loads(message))
            server.send(message)

        ws.on_message(from_page)
        sockets.append(ws)

    resident.route_web_socket(re.compile(r"/api/conversations/[^/]+/ws$"), route)
    official, name, _, conv = with_official(new_page, base, resident)
    connects = resident.evaluate("() => window.kommunchatt.connects")
    last_shown = max_seq(resident)

    # The network goes away: requests fail, the socket is cut and cannot be opened again.
    refuse["on"] = True
    resident.context.set_offline(True)
    sockets[-1].close(code=4000, reason="test: the network went away")
    resident.wait_for_function("() => !window.kommunchatt.connected")

    missed = "Är du kvar? Det här skrev jag medan du var utan anslutning."
    official.fill("#reply-input", missed)
    official.press("#reply-input", "Enter")
    expect(official.locator("#transcript .msg[data-author=official]").last).to_contain_text(missed)  # stored
    in_widget = resident.locator(".kc-msg[data-author=official]", has_text=missed)
    expect(in_widget).to_have_count(0)

    # The network is back, but the polls may not fetch messages yet: only the socket's resume can bring it.
    polls_blocked = re.compile(r"/api/conversations/[^/]+/messages\?after=")
    resident.route(polls_blocked, lambda r: r.abort())
    refuse["on"] = False
    resident.context.set_offline(False)
    expect(in_widget).to_have_count(1, timeout=20_000)
    assert resident.evaluate("() => window.kommunchatt.connects") > connects
    assert hellos[-1]["after"] == last_shown, hellos  # resumed after the last message it had

    # The polls work again: the next one must not add it twice.
    resident.unroute(polls_blocked)
    polls = resident.evaluate("() => window.kommunchatt.polls")
    resident.evaluate("() => window.dispatchEvent(new Event('online'))")  # as the browser does: fetch now
    resident.wait_for_function("(n) => window.kommunchatt.polls > n", arg=polls)
    expect(in_widget).to_have_count(1)
    expect(resident.locator("#kc-error")).to_be_hidden()
    assert_seqs_once_in_order(resident)


def test_resident_text_is_never_html(base, new_page):
    resident = new_page()
    resident.goto(f"{base}/")
    open_chat(resident)
    for attack in XSS:
        say(resident, attack)
    shown = [m["text"] for m in messages(resident) if m["author"] == "resident"]
    assert shown == XSS
    for attack in XSS:
        expect(resident.locator(".kc-msg[data-author=resident] .kc-text", has_text=attack)).to_be_visible()
    name, _ = type_for_person(resident)
    conv = conversation_id(resident)

    official = new_page()
    console_login(official, base, name)
    claim(official, conv)
    transcript = official.locator("#transcript")
    expect(transcript.locator(".msg[data-author=resident] .msg-text")).to_have_text(
        [*XSS, "jag vill prata med en människa"])
    assert official.locator("#chat img, #chat script, #queue img, #queue script").count() == 0
    assert resident.locator("#kc-messages img, #kc-messages script").count() == 0
    assert official.evaluate("() => typeof window.__pwned") == "undefined"
    assert resident.evaluate("() => typeof window.__pwned") == "undefined"

    # The official transfers the chat to a named colleague, who takes it and closes it with an outcome.
    colleague = PARTNER[name]
    official.select_option("#transfer-to", label=f"{colleague}, {TITLES[colleague]}")
    official.fill("#transfer-reason", "Min kollega kan frågan bäst")
    official.click("#transfer")
    expect(official.locator("#chat-notice")).to_contain_text(f"Samtalet är flyttat till {colleague}")
    expect(resident.locator(".kc-msg[data-author=system]").last).to_contain_text(f"{colleague}")
    expect(resident.locator(".kc-msg[data-author=system]").last).to_contain_text("tar över din fråga")
    expect(resident.locator("#kc-status")).to_contain_text(f"Du väntar på {colleague}")

    official.click("#logout")
    console_login(official, base, colleague)
    expect(queue_item(official, conv)).to_be_visible(timeout=QUEUE_WAIT_MS)
    expect(queue_item(official, conv).locator(".q-mine")).to_be_visible()
    claim(official, conv)
    expect(resident.locator("#kc-status")).to_contain_text(f"Du pratar nu med {colleague}")
    official.select_option("#outcome", "resolved")
    official.click("#close")
    expect(official.locator("#chat-notice")).to_contain_text("Samtalet är avslutat (Löst)")
    expect(queue_item(official, conv)).to_have_count(0)
    expect(resident.locator(".kc-msg[data-author=system]").last).to_have_text(
        re.compile(f"{colleague} har avslutat samtalet"))
    assert official.evaluate("() => typeof window.__pwned") == "undefined"
    assert resident.evaluate("() => typeof window.__pwned") == "undefined"


def test_accessibility_axe(base, new_page):
    resident = new_page()
    resident.goto(f"{base}/")
    launcher_ready(resident)
    launcher = run_axe(resident, "widget-launcher")  # closed: only the launcher
    open_chat(resident)
    say(resident, "behöver jag bygglov för en altan")
    widget = run_axe(resident, "widget")

    name, _ = ask_for_person(resident)
    conv = conversation_id(resident)
    official = new_page()
    official.goto(f"{base}/console")
    expect(official.locator("#login-username")).to_be_visible()
    login_page = run_axe(official, "console-login")
    console_login(official, base, name)
    claim(official, conv)
    official.fill("#reply-input", "Hej! Vad vill du bygga?")
    official.press("#reply-input", "Enter")
    expect(official.locator("#transcript .msg[data-author=official]")).to_have_count(1)
    expect(resident.locator(".kc-msg[data-author=official]")).to_have_count(1)
    console = run_axe(official, "console")
    widget_person = run_axe(resident, "widget-with-official")

    line = (f"axe-core WCAG 2.1 AA: closed widget (launcher) {axe_line(launcher)} | widget {axe_line(widget)}"
            f" | widget with an official {axe_line(widget_person)}"
            f" | console login {axe_line(login_page)} | console with a chat open {axe_line(console)}")
    for key, what in (("widget-typing", "widget showing 'skriver …'"), ("console-typing", "console showing 'skriver …'"),
                      ("widget-english", "widget in English"), ("widget-unread", "closed widget with unread messages")):
        if key in AXE_SUMMARY:  # from the live test, when it ran
            line += f" | {what} {axe_line(AXE_SUMMARY[key])}"
    AXE_SUMMARY["summary"] = line
    (REPORTS / "axe-summary.json").write_text(json.dumps(AXE_SUMMARY, indent=2, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
    print("\n" + line)
    for summary in (launcher, widget, widget_person, login_page, console):
        assert_no_serious(summary)


def test_keyboard_alone(base, new_page):
    """Tab to the launcher, open the chat, write, close and open it again, choose a quick reply, all without
    a mouse; the focus is visible."""
    page = new_page()
    page.goto(f"{base}/")
    launcher_ready(page)
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "kc-launcher":
            break
    else:
        pytest.fail("Tab never reached the chat's launcher")
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") not in ("", "none")
    page.keyboard.press("Enter")
    expect(page.locator("#kc-panel")).to_be_visible()
    expect(page.locator("#kc-input")).to_be_focused()
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    wait_bot_after(page, 0, re.escape(WELCOME))
    before = max_seq(page)
    page.keyboard.type("behöver jag bygglov för en altan")
    page.keyboard.press("Enter")
    wait_bot_after(page, before, FEEDBACK_QUESTION)
    expect(page.locator("#kc-input")).to_be_focused()

    # Escape closes the chat and gives the focus back to the launcher; Enter opens it again, nothing lost.
    shown = messages(page)
    page.keyboard.press("Escape")
    expect(page.locator("#kc-panel")).to_be_hidden()
    expect(page.locator("#kc-launcher")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#kc-input")).to_be_focused()
    assert messages(page) == shown

    for _ in range(10):  # back up from the text box to the quick reply
        page.keyboard.press("Shift+Tab")
        if page.evaluate("() => document.activeElement.classList.contains('kc-quick')"):
            break
    else:
        pytest.fail("Shift+Tab never reached the quick reply")
    assert page.evaluate("() => document.activeElement.textContent") == ASK_FOR_PERSON  # the newest turn's last
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") not in ("", "none")
    before = max_seq(page)
    page.keyboard.press("Enter")
    wait_bot_after(page, before, HANDOFF_TEXT.pattern)

    console = new_page()
    console.goto(f"{base}/console")
    expect(console.locator("#login-username")).to_be_focused()
    console.keyboard.type("anna.holm")
    console.keyboard.press("Tab")
    console.keyboard.type(PASSWORD)
    console.keyboard.press("Enter")
    expect(console.locator("#me-name")).to_have_text("Anna Holm")


def posts_a_message(request) -> bool:
    return request.method == "POST" and re.search(r"/api/conversations/[^/]+/messages$", request.url) is not None


def test_launcher_opens_closes_and_counts_unread(base, new_page):
    """The conversation starts only when the launcher is clicked; "Stäng chatten" closes the chat, the tab
    remembers whether it was open, and what comes while it is closed is counted on the launcher."""
    page = new_page()
    started: list[str] = []
    page.on("request", lambda r: started.append(r.url)
            if r.method == "POST" and r.url.endswith("/api/conversations") else None)
    page.goto(f"{base}/")
    launcher = launcher_ready(page)
    badge = page.locator("#kc-launcher .kc-badge")
    expect(launcher).to_have_text(LAUNCHER)
    expect(badge).to_be_hidden()
    assert started == [] and page.evaluate("() => localStorage.getItem('kommunchatt')") is None
    welcome = open_chat(page)
    assert len(started) == 1 and welcome["seq"] == 1 and welcome["text"].startswith(WELCOME)
    expect(page.locator("#kc-input")).to_be_focused()
    assert page.evaluate("() => sessionStorage.getItem('kommunchatt-open')") == "1"

    # "Stäng chatten" closes it, the focus goes back to the launcher; closed stays closed over a reload.
    page.get_by_role("button", name="Stäng chatten").click()
    expect(page.locator("#kc-panel")).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    assert page.evaluate("() => sessionStorage.getItem('kommunchatt-open')") == "0"
    page.reload()
    launcher_ready(page)
    page.wait_for_function("() => window.kommunchatt.polls >= 1")  # the history is in...
    expect(badge).to_be_hidden()  # ...and is not counted as new
    launcher.click()
    expect(page.locator("#kc-panel")).to_be_visible()
    expect(page.locator("#kc-messages .kc-msg")).to_have_count(1)  # the same conversation, its welcome once
    assert len(started) == 1

    # A topic button under the welcome is sent; the chat is closed before the answer comes.
    held = []
    sends = re.compile(r"/api/conversations/[^/]+/messages$")
    page.route(sends, lambda route: held.append(route) if route.request.method == "POST" else route.continue_())
    before = max_seq(page)
    with page.expect_request(posts_a_message):
        page.locator('.kc-msg[data-seq="1"] .kc-quick', has_text="Bygglov").click()
    page.locator("#kc-close").click()
    expect(page.locator("#kc-panel")).to_be_hidden()
    assert len(held) == 1 and held[0].request.post_data_json["payload"] == "/bygglov"
    held[0].continue_()
    page.unroute(sends)
    wait_bot_after(page, before, FEEDBACK_QUESTION)
    page.wait_for_function("() => !document.querySelector('#kc-form').hasAttribute('aria-busy')")
    came = [m for m in messages(page) if m["seq"] > before and m["author"] != "resident"]
    assert len(came) >= 2, came  # the answer and "Fick du svar på din fråga?"
    expect(badge).to_be_visible()
    expect(badge).to_have_text(str(len(came)))
    expect(launcher).to_have_accessible_name(f"{LAUNCHER} ({len(came)} nya meddelanden)")
    expect(page.locator("#kc-announce")).to_have_text("Du har fått svar i chatten.")
    assert page.evaluate("() => window.kommunchatt.unread") == len(came)
    assert_no_serious(run_axe(page, "widget-unread"))

    # Opened again: nothing is counted any more; "Ja" says which answer helped.
    launcher.click()
    expect(badge).to_be_hidden()
    expect(page.locator("#kc-announce")).to_have_text("")
    before = max_seq(page)
    asked = page.locator(".kc-msg[data-author=bot]").last
    expect(asked.locator(".kc-text")).to_have_text(FEEDBACK_QUESTION)
    with page.expect_request(posts_a_message) as sent:
        asked.get_by_role("button", name="Ja", exact=True).click()
    body = sent.value.post_data_json
    assert body["text"] == "Ja" and re.fullmatch(r'/feedback_yes\{"svar":"bygglov/[a-z0-9_]+"\}', body["payload"]), body
    wait_bot_after(page, before, "Vad bra")
    assert_seqs_once_in_order(page)


def test_danger_written_while_waiting_gets_112_and_alerts_the_console(base, new_page):
    """While the resident waits for a named official, a message about real danger gets 112 at once
    from the switchboard, and the official's console shows an alert that opens the chat."""
    resident = new_page()
    resident.goto(f"{base}/")
    open_chat(resident)
    say(resident, "behöver jag bygglov för ett plank")
    name, _ = type_for_person(resident)
    official = new_page()
    console_login(official, base, name)
    say(resident, "det brinner i trapphuset och vi kommer inte ut", expect_bot=False)
    system = resident.locator(".kc-msg[data-author=system]").last
    expect(system.locator(".kc-text")).to_contain_text("Ring 112")
    alert = official.locator("#emergency")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("112")
    official.locator("#emergency-open").click()
    expect(official.locator("#chat")).to_be_visible()
    expect(official.locator("#transcript")).to_contain_text("det brinner i trapphuset")
    expect(alert).to_be_hidden()
    assert_no_serious(run_axe(official, "console-emergency"))


def test_a_send_whose_answer_is_lost_is_retried_and_stored_once(base, new_page):
    """The network drops the service's answer to a send: the widget sends again with the same client id,
    and the message is shown, stored and answered once."""
    page = new_page()
    page.goto(f"{base}/")
    open_chat(page)
    sends = re.compile(r"/api/conversations/[^/]+/messages$")
    tries: list[dict] = []

    def lose_the_first_answer(route):
        if route.request.method != "POST":
            route.continue_()
            return
        tries.append(route.request.post_data_json)
        if len(tries) == 1:
            route.fetch()  # the service stores the message and answers it ...
            route.abort("connectionreset")  # ... but the answer never reaches the browser
        else:
            route.continue_()

    page.route(sends, lose_the_first_answer)
    answer = say(page, "hur ansöker jag om förskola?")
    page.unroute(sends)
    assert answer is not None and answer["text"]
    assert len(tries) == 2 and tries[0]["client_id"] == tries[1]["client_id"], tries
    assert_seqs_once_in_order(page)
    page.reload()  # what the service stored, read back: the chat stays open over a reload
    page.wait_for_function("() => window.kommunchatt && window.kommunchatt.polls >= 1")
    expect(page.locator("#kc-panel")).to_be_visible()
    said = [m for m in messages(page) if m["author"] == "resident"]
    assert [m["text"] for m in said] == ["hur ansöker jag om förskola?"]  # stored once
    assert_seqs_once_in_order(page)


def test_in_english_button_relabels_the_widget(base, new_page):
    """"In English" under the welcome: the conversation's language changes, and the widget's own words with it."""
    page = new_page()
    page.goto(f"{base}/")
    open_chat(page)
    root = page.locator("#kc-root")
    expect(root).to_have_attribute("lang", "sv")
    expect(page.locator("#kc-title")).to_have_text("Chatt med Exempelby kommun")
    before = max_seq(page)
    with page.expect_request(posts_a_message) as sent:
        page.locator('.kc-msg[data-seq="1"] .kc-quick', has_text="In English").click()
    body = sent.value.post_data_json
    assert re.fullmatch(r"[A-Za-z0-9_-]{8,64}", body.pop("client_id")), body  # each message has its own id
    assert body == {"text": "In English", "payload": '/byt_sprak{"language":"en"}'}
    reply = wait_bot_after(page, before, "English")
    assert reply["text"].startswith("OK, I will write in English."), reply

    expect(root).to_have_attribute("lang", "en")
    expect(page.locator("#kc-title")).to_have_text("Chat with Exempelby kommun")
    expect(page.locator("#kc-close")).to_have_text("Close the chat")
    expect(page.locator("label[for=kc-input]")).to_have_text("Your message")
    expect(page.locator("#kc-form button[type=submit]")).to_have_text("Send")
    expect(page.locator("#kc-download")).to_have_text("Download the chat")
    expect(page.locator("#kc-root .kc-notice")).to_contain_text("personal identity number")
    expect(page.locator("#kc-messages")).to_have_attribute("aria-label", "Messages in the chat")
    # The names on the messages already shown are relabelled too, the welcome's included.
    assert {m["who"] for m in messages(page) if m["author"] == "bot"} == {"Automated assistant"}
    assert {m["who"] for m in messages(page) if m["author"] == "resident"} == {"You"}
    assert page.evaluate("() => window.kommunchatt.language") == "en"
    assert_no_serious(run_axe(page, "widget-english"))

    # Closed, the launcher speaks English; after a reload the widget is still in English.
    page.locator("#kc-close").click()
    expect(page.locator("#kc-launcher")).to_have_text("Chat with us")
    page.reload()
    expect(launcher_ready(page)).to_have_text("Chat with us")
    expect(root).to_have_attribute("lang", "en")


# Every line box of the demo page's own text (not the widget's) that the launcher's box overlaps.
TEXT_UNDER_LAUNCHER = """() => {
    const root = document.querySelector('#kc-root');
    const l = document.querySelector('#kc-launcher').getBoundingClientRect();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const hits = [];
    let boxes = 0;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.textContent.trim() || root.contains(node) || node.parentElement.closest('script, style')) continue;
        const range = document.createRange();
        range.selectNodeContents(node);
        for (const r of range.getClientRects()) {
            if (!r.width || !r.height) continue;
            boxes += 1;
            if (r.left < l.right && r.right > l.left && r.top < l.bottom && r.bottom > l.top) {
                hits.push({text: node.textContent.trim().slice(0, 60), box: [r.left, r.top, r.right, r.bottom]});
            }
        }
    }
    return {launcher: [l.left, l.top, l.right, l.bottom], boxes, hits};
}"""


def test_closed_launcher_covers_no_page_text(base, new_page):
    """The closed launcher hides none of the demo page's text: at desktop width (at the top and at the bottom
    of the page) and at 360 px scrolled to the bottom, where the page leaves room for it."""
    REPORTS.mkdir(exist_ok=True)
    phone = {"is_mobile": True, "has_touch": True, "device_scale_factor": 2}
    for name, viewport, kwargs, places in (("desktop", DESKTOP, {}, ("top", "bottom")),
                                           ("phone-360", PHONE, phone, ("bottom",))):
        page = new_page(viewport, **kwargs)
        page.goto(f"{base}/")
        launcher = launcher_ready(page)
        expect(launcher).to_have_text(LAUNCHER)
        for place in places:
            if place == "bottom":
                page.evaluate("() => window.scrollTo(0, document.scrollingElement.scrollHeight)")
                page.wait_for_function("() => Math.ceil(window.scrollY + window.innerHeight)"
                                       " >= document.scrollingElement.scrollHeight")
            expect(launcher).to_be_in_viewport(ratio=1)
            found = page.evaluate(TEXT_UNDER_LAUNCHER)
            assert found["boxes"] >= 10, found  # the page's text was measured at all
            assert not found["hits"], (name, place, found)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
        page.screenshot(path=str(REPORTS / f"widget-launcher-{name}.png"))


def test_screenshots_and_narrow_screen(base, new_page):
    REPORTS.mkdir(exist_ok=True)
    desktop = new_page(DESKTOP)
    desktop.goto(f"{base}/")
    open_chat(desktop)
    say(desktop, "behöver jag bygglov för en altan")
    desktop.screenshot(path=str(REPORTS / "widget-desktop.png"))

    phone = new_page(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    phone.goto(f"{base}/")
    open_chat(phone)
    say(phone, "behöver jag bygglov för en altan")
    name, _ = ask_for_person(phone)
    conv = conversation_id(phone)
    official = new_page(DESKTOP)
    console_login(official, base, name)
    claim(official, conv)
    official.fill("#reply-input", f"Hej! Jag heter {name}. Hur stor blir altanen?")
    official.press("#reply-input", "Enter")
    expect(phone.locator(".kc-msg[data-author=official]")).to_have_count(1)
    expect(phone.locator("#kc-status")).to_contain_text(f"Du pratar nu med {name}")
    official.screenshot(path=str(REPORTS / "console-chat.png"), full_page=True)
    phone.screenshot(path=str(REPORTS / "widget-phone-360.png"))

    # At 360 px: no sideways scrolling, the text box and the send button are on the screen.
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 360
    for selector in ("#kc-input", "#kc-form button[type=submit]"):
        expect(phone.locator(selector)).to_be_in_viewport(ratio=1)
        box = phone.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360, (selector, box)

    # 200 % zoom of a 1280 x 800 window is a 640 x 400 CSS-pixel window drawn at twice the size.
    zoomed = new_page({"width": 640, "height": 400}, device_scale_factor=2)
    zoomed.goto(f"{base}/")
    open_chat(zoomed)
    say(zoomed, "behöver jag bygglov för en altan")
    assert zoomed.evaluate("() => document.documentElement.scrollWidth") <= 640
    for selector in ("#kc-input", "#kc-form button[type=submit]"):
        expect(zoomed.locator(selector)).to_be_in_viewport(ratio=1)
    zoomed.screenshot(path=str(REPORTS / "widget-zoom-200.png"))


def test_the_console_shows_the_municipalitys_clock_on_a_computer_set_to_another_zone(base, new_page):
    """An official on a laptop set to UTC (or abroad) still sees every time as the municipality's clock shows it."""
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    resident = new_page()
    resident.goto(f"{base}/")
    open_chat(resident)
    say(resident, "behöver jag bygglov för en altan")
    name, _ = ask_for_person(resident)
    conv = conversation_id(resident)
    official = new_page(timezone_id="UTC")
    console_login(official, base, name)
    claim(official, conv)
    stamp = official.locator("#transcript time").first
    expect(stamp).to_be_visible()
    written = datetime.fromisoformat(stamp.get_attribute("datetime").removesuffix("Z")).replace(tzinfo=timezone.utc)
    local = written.astimezone(ZoneInfo("Europe/Stockholm"))
    assert stamp.inner_text() == local.strftime("%H:%M")
    assert local.utcoffset() != written.utcoffset()  # the two clocks differ, so the check means something

"""The Telegram channel through its public interfaces: captured updates posted to the webhook,
Bot API calls recorded by a local fake Telegram, Delivery rows, the console API, and once
the whole path with the real action server and Rasa server."""
from __future__ import annotations

import itertools
import json
import re
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy import update as sql_update

from conftest import FIXTURES, PASSWORD, eventually, internal_headers, load_roster, login, start_stack
from fake_telegram import FakeTelegram
from handoff import __main__ as cli
from handoff import service
from handoff.app import create_app
from handoff.channels.telegram_setup import TelegramSetupError
from handoff.channels.telegram_text import MAX_CHARS, split_text
from handoff.db import make_engine, make_sessionmaker
from handoff.models import AuditEvent, Author, Conversation, Delivery, Handoff, Message, utcnow

TOKEN = "7000000001:AAF-test-token-for-the-fake-bot-api"
SECRET = "webhook-secret_0123456789-abcdefXYZ"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CHAT = 555000111
GROUP = -1001234567890
USERNAMES = {"Anna Holm": "anna.holm", "Erik Sandberg": "erik.sandberg"}
WELCOME_SV = "Hej! Jag är en automatisk assistent för Exempelby kommun."
HELP_SV = "Här kan du ställa frågor till Exempelby kommun."
TO_ENGLISH = '/byt_sprak{"language":"en"}'
_update_ids = itertools.count(300000000)


# ---- fixtures and helpers ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def fake_server():
    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture
def telegram(fake_server):
    """The fake Bot API, with nothing recorded and no failure queued."""
    fake_server.reset()
    return fake_server


@pytest.fixture
def tg_settings(settings, telegram):
    return settings.model_copy(update={
        "telegram_bot_token": SecretStr(TOKEN), "telegram_webhook_secret": SecretStr(SECRET),
        "telegram_api_base_url": telegram.base_url,
    })


@pytest.fixture
def tg(tg_settings):
    """The ASGI app with its lifespan, Telegram on (webhook mode), the test roster loaded."""
    load_roster(tg_settings.database_url)
    with TestClient(create_app(tg_settings)) as client:
        yield client


def update(name: str, *, chat_id: int = CHAT, text: str | None = None) -> dict:
    """A captured update from tests/fixtures/telegram, with a fresh update id and this chat."""
    body = json.loads((FIXTURES / "telegram" / f"{name}.json").read_text(encoding="utf-8"))
    body["update_id"] = next(_update_ids)
    query = body.get("callback_query")
    message = body.get("message") or body.get("edited_message") or query["message"]
    if message["chat"]["type"] == "private":
        message["chat"]["id"] = chat_id
        (query or message)["from"]["id"] = chat_id
    if text is not None:
        message["text"] = text
    return body


def command(text: str, *, chat_id: int = CHAT) -> dict:
    """The resident sends a command such as /hjalp (the captured /start with another command)."""
    body = update("start", chat_id=chat_id, text=text)
    body["message"]["entities"][0]["length"] = len(text)
    return body


def buttons(call) -> dict[str, str]:
    """The inline keyboard under a recorded sendMessage: button title -> callback data."""
    markup = call.params.get("reply_markup") or {}
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard") or [] for b in row}


def press(call, title: str, *, chat_id: int = CHAT) -> dict:
    """The resident presses the button `title` under a message the bot sent (a recorded sendMessage)."""
    body = update("callback_query", chat_id=chat_id)
    query = body["callback_query"]
    query["id"] = f"query-{body['update_id']}"
    query["data"] = buttons(call)[title]
    query["message"].update(text=call.params["text"], reply_markup=call.params["reply_markup"])
    return body


def stored(client, chat_id: int = CHAT) -> list[Message]:
    """The chat's messages in the database, in seq order."""
    conv = conversation(client, chat_id)
    with client.app.state.services.sessions() as session:
        return list(session.scalars(select(Message).where(Message.conversation_id == conv.id).order_by(Message.seq)))


def post(client, body: dict, secret: str | None = SECRET):
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    return client.post("/telegram/webhook", json=body, headers=headers)


def send(client, body: dict) -> None:
    resp = post(client, body)
    assert resp.status_code == 200, resp.text




def conversation(client, chat_id: int = CHAT) -> Conversation | None:
    with client.app.state.services.sessions() as session:
        return session.scalar(select(Conversation).where(Conversation.telegram_chat_id == chat_id))


def delivery(client, conversation_id: str, seq: int) -> Delivery | None:
    with client.app.state.services.sessions() as session:
        return session.scalar(select(Delivery).join(Message, Message.id == Delivery.message_id)
                              .where(Message.conversation_id == conversation_id, Message.seq == seq))


def final_delivery(client, conversation_id: str, seq: int) -> Delivery:
    def check():
        row = delivery(client, conversation_id, seq)
        return row if row is not None and row.state != "pending" else None
    return eventually(check, f"a final delivery state for message {seq}")


def settled(client) -> None:
    """Wait until every outgoing message so far has left the pending state."""
    def check():
        with client.app.state.services.sessions() as session:
            return session.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == "pending")) == 0
    eventually(check, "pending deliveries to settle")


def claimed_handoff(client, telegram, settings) -> tuple[str, dict, str]:
    """A Telegram resident handed to a bygglov official who has claimed the chat."""
    send(client, update("start"))
    conv_id = eventually(lambda: conversation(client), "the conversation").id
    answer = client.post("/internal/handoffs", headers=internal_headers(settings),
                         json={"conversation_id": conv_id, "topic": "bygglov", "question": "altan"})
    assert answer.status_code == 200, answer.text
    name = answer.json()["official"]["name"]
    headers = login(client, USERNAMES[name])
    item = next(q for q in client.get("/api/console/queue", headers=headers).json() if q["conversation_id"] == conv_id)
    assert item["channel"] == "telegram"
    assert client.post(f"/api/console/handoffs/{item['handoff_id']}/claim", headers=headers).status_code == 204
    telegram.wait_for(lambda: f"Du pratar nu med {name}, bygglovshandläggare." in telegram.texts(CHAT), what="claimed")
    settled(client)
    return conv_id, headers, name


def official_reply(client, conv_id: str, headers: dict, text: str) -> dict:
    resp = client.post(f"/api/console/conversations/{conv_id}/messages", headers=headers, json={"text": text})
    assert resp.status_code == 201, resp.text
    return resp.json()


# ---- the whole path, with the real Rasa server --------------------------------------------------

@pytest.mark.e2e
def test_whole_handoff_over_telegram_with_real_rasa(tmp_path, telegram):
    stack = start_stack(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_WEBHOOK_SECRET=SECRET,
                        TELEGRAM_API_BASE_URL=telegram.base_url)
    base = f"http://127.0.0.1:{stack.handoff_port}"
    rasa = f"http://127.0.0.1:{stack.rasa_port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as http, httpx.Client(base_url=base, timeout=60) as console:
            def sent_since(mark: int, predicate, what: str):
                return telegram.wait_for(lambda: next(
                    (c for c in telegram.sent("sendMessage", chat_id=CHAT)[mark:] if predicate(c)), None), what=what)

            def mark() -> int:
                return len(telegram.sent("sendMessage", chat_id=CHAT))

            # /start: the assistant's welcome in Swedish, which says who answers and what not to write,
            # with the most asked topics and "In English" as buttons; the channel's commands follow it
            m = mark()
            send(http, update("start"))
            welcome = sent_since(m, lambda c: "personnummer" in c.params["text"], "the greeting")
            greeting = welcome.params["text"]
            assert greeting.startswith(WELCOME_SV) and "hälsa" in greeting
            assert buttons(welcome)["In English"] == TO_ENGLISH and "/bygglov" in buttons(welcome).values()
            sent_since(m, lambda c: "/person" in c.params["text"], "the commands")

            # a bygglov question: the real Rasa answers, then asks whether that helped, with its buttons
            # as an inline keyboard (the answer itself has none)
            m = mark()
            send(http, update("private_text", text="behöver jag bygglov för att bygga en altan"))
            answer = sent_since(m, lambda c: "bygglov" in c.params["text"].lower(), "the bot's answer")
            assert not buttons(answer)
            asked = sent_since(m, lambda c: c.params["text"] == "Fick du svar på din fråga?", "'Fick du svar?'")
            choices = buttons(asked)
            assert list(choices) == ["Ja", "Nej", "Prata med en person"], choices
            assert re.fullmatch(r'/feedback_yes\{"svar":"bygglov/[a-z0-9_]+"\}', choices["Ja"]), choices
            assert choices["Nej"] == choices["Ja"].replace("/feedback_yes", "/feedback_no", 1)
            assert choices["Prata med en person"] == "/request_human"

            # /person: the action server asks the switchboard for a person, who is named
            m = mark()
            send(http, update("person"))
            named = sent_since(m, lambda c: c.params["text"].startswith("Jag kopplar dig till "), "a named official")
            name = named.params["text"].removeprefix("Jag kopplar dig till ").split(",")[0]
            assert name in USERNAMES and "bygglovshandläggare" in named.params["text"]

            # the official claims and replies; the reply carries the official's name and title
            me = console.post("/api/console/login", json={"username": USERNAMES[name], "password": PASSWORD}).json()
            csrf = {"X-CSRF-Token": me["csrf_token"]}
            item = next(q for q in console.get("/api/console/queue").json() if q["channel"] == "telegram")
            conv = item["conversation_id"]
            assert item["topic"] == "bygglov"
            m = mark()
            assert console.post(f"/api/console/handoffs/{item['handoff_id']}/claim", headers=csrf).status_code == 204
            sent_since(m, lambda c: c.params["text"] == f"Du pratar nu med {name}, bygglovshandläggare.", "claimed")
            m = mark()
            reply = "Hej! Hur stor blir altanen, och hur högt över marken?"
            assert console.post(f"/api/console/conversations/{conv}/messages", headers=csrf,
                                json={"text": reply}).status_code == 201
            sent_since(m, lambda c: c.params["text"] == f"{name}, bygglovshandläggare:\n{reply}", "the official's reply")

            # the resident's next message reaches the official, and Rasa never sees it
            before = httpx.get(f"{rasa}/conversations/{conv}/tracker", params={"token": stack.rasa_token}).json()
            send(http, update("private_text", text="ungefär 20 kvadratmeter"))
            transcript = console.get(f"/api/console/conversations/{conv}/messages").json()
            assert transcript[-1]["author"] == "resident" and transcript[-1]["text"] == "ungefär 20 kvadratmeter"
            after = httpx.get(f"{rasa}/conversations/{conv}/tracker", params={"token": stack.rasa_token}).json()
            assert len(after["events"]) == len(before["events"]) and after["paused"] is True

            # back to the bot: the next question is answered by Rasa again
            m = mark()
            assert console.post(f"/api/console/conversations/{conv}/return-to-bot", headers=csrf).status_code == 204
            sent_since(m, lambda c: c.params["text"].startswith("Nu svarar den automatiska assistenten igen"), "returned")
            m = mark()
            send(http, update("private_text", text="hur lång tid tar ett bygglov"))
            transcript = console.get(f"/api/console/conversations/{conv}/messages").json()
            assert transcript[-1]["author"] == "bot", transcript[-1]
            sent_since(m, lambda c: c.params["text"] == transcript[-1]["text"], "the bot's next answer")

            # the button under the first "Fick du svar?" asks for a person again: the same official, by continuity
            m = mark()
            pressed = press(asked, "Prata med en person")
            send(http, pressed)
            assert telegram.sent("answerCallbackQuery", callback_query_id=pressed["callback_query"]["id"])
            sent_since(m, lambda c: c.params["text"].startswith(f"Jag kopplar dig till {name}, "), "the same official")

            # /avsluta: the resident leaves, the handoff closes as abandoned
            m = mark()
            send(http, update("avsluta"))
            sent_since(m, lambda c: c.params["text"].startswith(f"Du har avslutat samtalet med {name}."), "left")
            assert all(q["conversation_id"] != conv for q in console.get("/api/console/queue").json())

            # /samtal: the whole conversation as a text file, with names and times
            send(http, update("samtal"))
            document = telegram.wait_for(lambda: telegram.sent("sendDocument", chat_id=CHAT), what="the file")[-1]
            content = document.files["document"][1].decode("utf-8")
            assert reply in content and f"{name}, bygglovshandläggare:" in content and "ungefär 20 kvadratmeter" in content

        engine = make_engine(stack.database_url)
        with make_sessionmaker(engine)() as session:
            handoffs = session.scalars(select(Handoff).where(Handoff.conversation_id == conv).order_by(Handoff.id)).all()
            assert [h.outcome for h in handoffs] == ["returned_to_bot", "abandoned"]
            states = session.scalars(select(Delivery.state).join(Message, Message.id == Delivery.message_id)
                                     .where(Message.conversation_id == conv)).all()
        engine.dispose()
        assert states and set(states) == {"sent"}
    finally:
        stack.stop()


# ---- the webhook's door -----------------------------------------------------------------------

def test_webhook_refuses_missing_or_wrong_secret(tg, telegram):
    for secret in (None, "", "wrong-secret-0123456789abcdef", SECRET[:-1], SECRET + "x"):
        assert post(tg, update("private_text"), secret=secret).status_code == 403
    assert conversation(tg) is None
    assert telegram.all_calls("sendMessage") == []

    send(tg, update("private_text"))  # the right secret opens the door
    assert conversation(tg) is not None


def test_channel_is_off_without_a_bot_token(settings, telegram):
    load_roster(settings.database_url)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        assert post(client, update("start")).status_code == 404
    assert telegram.calls == []


def test_unreachable_telegram_does_not_stop_the_service(tg_settings):
    unreachable = tg_settings.model_copy(update={"telegram_api_base_url": "http://127.0.0.1:9/bot"})
    load_roster(unreachable.database_url)
    with TestClient(create_app(unreachable)) as client:
        assert client.get("/health").status_code == 200
        assert client.post("/api/conversations", json={}).status_code == 201  # the web chat works
        assert post(client, update("start")).status_code == 503  # Telegram will send the update again


def test_webhook_mode_without_a_secret_stops_start_up(settings, telegram):
    no_secret = settings.model_copy(update={"telegram_bot_token": SecretStr(TOKEN),
                                            "telegram_api_base_url": telegram.base_url})
    with pytest.raises(TelegramSetupError, match="TELEGRAM_WEBHOOK_SECRET"):
        with TestClient(create_app(no_secret)):
            pass


# ---- what residents send ----------------------------------------------------------------------

def test_start_greets_in_plain_swedish_and_is_delivered(tg, telegram):
    """/start is the switchboard's welcome, as on the web, with its buttons; a second message lists the commands."""
    send(tg, update("start"))
    welcome, commands = telegram.wait_for(
        lambda: (sent := telegram.sent("sendMessage", chat_id=CHAT))[1:] and sent, what="the greeting")[:2]
    greeting = welcome.params["text"]
    assert greeting.startswith(WELCOME_SV)
    assert "personnummer" in greeting and "hälsa" in greeting
    choices = buttons(welcome)
    assert choices["In English"] == TO_ENGLISH
    assert {"/sophamtning", "/bygglov"} <= set(choices.values()), choices
    assert all(len(data.encode()) <= 64 for data in choices.values())  # Telegram's limit for callback data
    listed = commands.params["text"]
    assert all(f"{c} " in listed for c in ("/person", "/samtal", "/avsluta")) and not buttons(commands)
    conv = conversation(tg)
    assert [(m.seq, m.author) for m in stored(tg)] == [(1, Author.bot), (2, Author.system)]
    assert final_delivery(tg, conv.id, 1).state == "sent" and final_delivery(tg, conv.id, 2).state == "sent"


def test_start_hjalp_and_help_in_a_begun_chat_explain_it_again(tg, telegram):
    send(tg, update("start"))
    telegram.wait_for(lambda: len(telegram.texts(CHAT)) >= 2, what="the welcome and the commands")
    settled(tg)
    for text in ("/start", "/hjalp", "/help"):
        before = len(telegram.texts(CHAT))
        send(tg, command(text))
        said = telegram.wait_for(lambda: telegram.texts(CHAT)[before:], what=f"the help after {text}")[0]
        assert said.startswith(HELP_SV), (text, said)
        assert "personnummer" in said and "hälsa" in said and "/person" in said
    assert [m.author for m in stored(tg)].count(Author.bot) == 1  # the welcome only once

    # /hjalp (or /help) as the very first contact is the welcome too
    other = CHAT + 1
    send(tg, command("/hjalp", chat_id=other))
    first = telegram.wait_for(lambda: telegram.texts(other), what="the welcome after /hjalp")[0]
    assert first.startswith(WELCOME_SV)


def test_button_press_is_answered_and_stored_with_its_title(tg, telegram):
    send(tg, update("start"))
    telegram.wait_for(lambda: len(telegram.texts(CHAT)) >= 2, what="the welcome and the commands")
    settled(tg)
    pressed = update("callback_query")
    send(tg, pressed)
    assert telegram.sent("answerCallbackQuery", callback_query_id=pressed["callback_query"]["id"])
    said = [m for m in stored(tg) if m.author == Author.resident]
    assert [m.text for m in said] == ["Prata med en person"]
    assert said[0].seq > 2  # after the welcome and the commands


def test_the_same_update_posted_twice_is_stored_and_answered_once(tg, telegram):
    send(tg, update("start"))
    telegram.wait_for(lambda: len(telegram.texts(CHAT)) >= 2, what="the welcome and the commands")
    settled(tg)
    question = update("private_text", text="hur ansöker jag om förskola?")
    send(tg, question)
    settled(tg)
    answered = len(telegram.texts(CHAT))
    stored_once = len(stored(tg))
    send(tg, question)  # Telegram posts it again: it did not see our 200 in time
    settled(tg)
    said = [m for m in stored(tg) if m.author == Author.resident]
    assert [m.text for m in said] == ["hur ansöker jag om förskola?"]
    assert len(stored(tg)) == stored_once
    assert len(telegram.texts(CHAT)) == answered
    pressed = update("callback_query")  # a button press posted twice, too
    send(tg, pressed)
    send(tg, pressed)
    settled(tg)
    assert [m.text for m in stored(tg) if m.author == Author.resident] == ["hur ansöker jag om förskola?",
                                                                          "Prata med en person"]


def test_texts_follow_the_conversations_language(tg, telegram):
    """After "In English" under the welcome, what the channel itself says is English (texts/telegram_en.yml)."""
    send(tg, update("start"))
    welcome = telegram.wait_for(lambda: telegram.sent("sendMessage", chat_id=CHAT), what="the welcome")[0]
    telegram.wait_for(lambda: len(telegram.texts(CHAT)) >= 2, what="the commands")
    send(tg, press(welcome, "In English"))
    assert conversation(tg).language == "en"
    assert [m.text for m in stored(tg) if m.author == Author.resident] == ["In English"]

    def says(body: dict, what: str) -> str:
        before = len(telegram.texts(CHAT))
        send(tg, body)
        return telegram.wait_for(lambda: telegram.texts(CHAT)[before:], what=what)[-1]

    settled(tg)
    assert says(update("sticker"), "the sticker reply") == (
        "The chat can only show text. The sticker you sent did not come through. Please use words instead.")
    said = says(command("/hjalp"), "the help")
    assert said.startswith("Here you can ask Exempelby kommun your questions.") and "/person" in said
    assert says(update("avsluta"), "nothing to end") == (
        "You are now talking to the automated assistant. There is no chat with a person to end.")
    send(tg, update("person"))
    assert [m.text for m in stored(tg) if m.author == Author.resident][-1] == "I want to talk to a person"

    send(tg, update("samtal"))
    call = telegram.wait_for(lambda: telegram.sent("sendDocument", chat_id=CHAT), what="the file")[0]
    content = call.files["document"][1].decode("utf-8")
    assert call.params["caption"] == "Here is your whole chat with us."
    assert content.startswith("Your chat with Exempelby kommun on Telegram.")
    assert re.search(r"\d\d:\d\d You:\n    In English", content)
    assert re.search(r"\d\d:\d\d The assistant:\n    Hej! Jag är en automatisk assistent", content)


def test_sticker_photo_and_edit_get_a_polite_reply(tg, telegram):
    send(tg, update("sticker"))
    telegram.wait_for(lambda: any("Klistermärket som du skickade" in t for t in telegram.texts(CHAT)), what="sticker")
    send(tg, update("photo"))
    telegram.wait_for(lambda: any("Bilden som du skickade" in t for t in telegram.texts(CHAT)), what="photo")
    send(tg, update("edited_message"))
    telegram.wait_for(lambda: any("Den ändringen kan vi inte se" in t for t in telegram.texts(CHAT)), what="edit")
    with tg.app.state.services.sessions() as session:
        stored = session.scalars(select(Message).where(Message.conversation_id == conversation(tg).id)).all()
    assert all(m.author == Author.system for m in stored)  # nothing went to Rasa, nothing was taken as text


def test_official_sees_that_a_sticker_could_not_be_shown(tg, telegram, tg_settings):
    conv_id, headers, _ = claimed_handoff(tg, telegram, tg_settings)
    send(tg, update("sticker"))
    transcript = tg.get(f"/api/console/conversations/{conv_id}/messages", headers=headers).json()
    assert transcript[-1]["author"] == "system" and "Klistermärket" in transcript[-1]["text"]
    telegram.wait_for(lambda: transcript[-1]["text"] in telegram.texts(CHAT), what="the resident's copy")


def test_group_chat_is_refused_and_nothing_is_stored(tg, telegram):
    send(tg, update("group_message"))
    refusal = telegram.wait_for(lambda: telegram.texts(GROUP), what="the refusal")[0]
    assert "privata" in refusal
    telegram.wait_for(lambda: telegram.sent("leaveChat", chat_id=GROUP), what="leaving the group")
    with tg.app.state.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Conversation)) == 0
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_resident_leaves_the_official_with_avsluta(tg, telegram, tg_settings):
    conv_id, headers, name = claimed_handoff(tg, telegram, tg_settings)
    send(tg, update("avsluta"))
    telegram.wait_for(lambda: f"Du har avslutat samtalet med {name}. Skriv igen om du har fler frågor."
                      in telegram.texts(CHAT), what="the goodbye")
    with tg.app.state.services.sessions() as session:
        handoff = session.scalar(select(Handoff).where(Handoff.conversation_id == conv_id))
        assert handoff.outcome == "abandoned" and handoff.closed_at is not None
        assert session.get(Conversation, conv_id).state == "closed"
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "resident_left")).actor == "resident"
    assert all(q["conversation_id"] != conv_id for q in tg.get("/api/console/queue", headers=headers).json())

    send(tg, update("avsluta"))  # nothing open any more: told so, nothing stored
    telegram.wait_for(lambda: any("inget samtal med en person" in t for t in telegram.texts(CHAT)), what="nothing")


def test_samtal_sends_the_whole_conversation_as_a_text_file(tg, telegram, tg_settings):
    conv_id, headers, name = claimed_handoff(tg, telegram, tg_settings)
    send(tg, update("private_text", text="Min altan blir 20 kvadratmeter."))
    official_reply(tg, conv_id, headers, "Då behöver du inget bygglov.")
    send(tg, update("samtal"))
    call = telegram.wait_for(lambda: telegram.sent("sendDocument", chat_id=CHAT), what="the file")[0]
    filename, data = call.files["document"]
    content = data.decode("utf-8")
    assert filename.endswith(".txt") and call.params["caption"]
    assert "Exempelby kommun" in content.splitlines()[0]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d Du:\n    Min altan blir 20 kvadratmeter\.", content)
    assert f"{name}, bygglovshandläggare:\n    Då behöver du inget bygglov." in content
    assert f"Kommunen:\n    Du pratar nu med {name}, bygglovshandläggare." in content


# ---- delivery the official can trust ----------------------------------------------------------

def test_official_reply_carries_name_and_title(tg, telegram, tg_settings):
    conv_id, headers, name = claimed_handoff(tg, telegram, tg_settings)
    sent = official_reply(tg, conv_id, headers, "Hej! Hur stor blir altanen?")
    assert final_delivery(tg, conv_id, sent["seq"]).state == "sent"
    assert f"{name}, bygglovshandläggare:\nHej! Hur stor blir altanen?" in telegram.texts(CHAT)


def test_rate_limited_reply_is_sent_once_after_retry_after(tg, telegram, tg_settings):
    conv_id, headers, _ = claimed_handoff(tg, telegram, tg_settings)
    telegram.fail_next("sendMessage", 429)
    sent = official_reply(tg, conv_id, headers, "Altanen behöver inget bygglov om den är låg.")
    row = final_delivery(tg, conv_id, sent["seq"])
    assert (row.state, row.attempts) == ("sent", 2)
    assert "RetryAfter" in row.last_error
    tries = [c for c in telegram.all_calls("sendMessage") if "Altanen behöver" in c.params.get("text", "")]
    assert [c.ok for c in tries] == [False, True]  # delivered once


def test_network_error_is_retried_with_back_off(tg, telegram, tg_settings):
    conv_id, headers, _ = claimed_handoff(tg, telegram, tg_settings)
    tg.app.state.services.channels["telegram"].out.backoff_seconds = 0.05
    telegram.fail_next("sendMessage", 502)
    sent = official_reply(tg, conv_id, headers, "Jag kollar och återkommer.")
    row = final_delivery(tg, conv_id, sent["seq"])
    assert (row.state, row.attempts) == ("sent", 2) and "NetworkError" in row.last_error


def test_delivery_fails_after_a_bounded_number_of_tries(tg, telegram, tg_settings):
    conv_id, headers, _ = claimed_handoff(tg, telegram, tg_settings)
    deliveries = tg.app.state.services.channels["telegram"].out
    deliveries.backoff_seconds = 0.01
    for _ in range(deliveries.max_attempts + 1):
        telegram.fail_next("sendMessage", 502)
    sent = official_reply(tg, conv_id, headers, "Hej igen.")
    row = final_delivery(tg, conv_id, sent["seq"])
    assert (row.state, row.attempts) == ("failed", deliveries.max_attempts) and "Bad Gateway" in row.last_error
    assert len([c for c in telegram.all_calls("sendMessage") if "Hej igen." in c.params.get("text", "")]) == 5


def test_blocked_bot_marks_delivery_blocked_without_retrying(tg, telegram, tg_settings):
    conv_id, headers, _ = claimed_handoff(tg, telegram, tg_settings)
    telegram.fail_next("sendMessage", 403)
    sent = official_reply(tg, conv_id, headers, "Är du kvar?")
    row = final_delivery(tg, conv_id, sent["seq"])
    assert (row.state, row.attempts) == ("blocked", 1)
    assert "blocked by the user" in row.last_error
    assert len([c for c in telegram.all_calls("sendMessage") if "Är du kvar?" in c.params.get("text", "")]) == 1
    # the official sees it, in the transcript and in the delivery list the console polls
    shown = tg.get(f"/api/console/conversations/{conv_id}/deliveries", headers=headers).json()
    assert {"seq": sent["seq"], "state": "blocked", "attempts": 1}.items() <= next(
        d for d in shown if d["seq"] == sent["seq"]).items()
    transcript = tg.get(f"/api/console/conversations/{conv_id}/messages", headers=headers).json()
    assert next(m for m in transcript if m["seq"] == sent["seq"])["delivery"]["state"] == "blocked"


def test_long_answer_is_split_at_sentence_boundaries(tg, telegram):
    send(tg, update("start"))
    conv_id = conversation(tg).id
    settled(tg)
    sentence = "Du kan bygga en altan utan bygglov om den är lägre än 1,8 meter."
    text = " ".join([sentence] * 80)  # about 5,200 characters
    assert len(text) > MAX_CHARS
    services = tg.app.state.services
    outbox = service.Outbox()
    with services.sessions() as session, session.begin():
        msg = service.append_message(session, session.get(Conversation, conv_id), Author.bot, text, outbox=outbox,
                                     buttons=[{"title": "Prata med en person", "payload": "/request_human"}])
        seq = msg.seq
    tg.portal.call(services.publish, outbox)  # as the switchboard does after every commit
    assert final_delivery(tg, conv_id, seq).state == "sent"
    parts = [c for c in telegram.sent("sendMessage", chat_id=CHAT) if c.params["text"].startswith(sentence)]
    assert len(parts) == 2
    assert all(len(c.params["text"]) <= MAX_CHARS and c.params["text"].endswith(".") for c in parts)
    assert " ".join(c.params["text"] for c in parts) == text
    assert "reply_markup" not in parts[0].params and parts[1].params["reply_markup"]["inline_keyboard"]


def test_split_text_cuts_between_words_when_a_sentence_is_too_long():
    assert split_text("Kort svar.") == ["Kort svar."]
    words = " ".join(["altan"] * 2000)  # one 12,000-character sentence
    parts = split_text(words)
    assert all(len(p) <= MAX_CHARS for p in parts) and " ".join(parts) == words
    emoji = "🙂" * 3000  # 6,000 UTF-16 units, Telegram's measure
    parts = split_text(emoji)
    assert "".join(parts) == emoji and all(len(p.encode("utf-16-le")) // 2 <= MAX_CHARS for p in parts)


# ---- the operator's commands ------------------------------------------------------------------

def test_webhook_command_registers_the_url_with_the_secret(telegram, monkeypatch, capsys):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", telegram.base_url)
    url = "https://chatt.exempelby.example/telegram/webhook"
    assert cli.main(["telegram-webhook", url]) == 0
    call = telegram.sent("setWebhook")[-1]
    assert call.params["url"] == url and call.params["secret_token"] == SECRET
    assert {"message", "callback_query", "edited_message"} <= set(call.params["allowed_updates"])
    assert url in capsys.readouterr().out

    assert cli.main(["telegram-webhook", "http://chatt.exempelby.example/telegram/webhook"]) == 1
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "secret")
    assert cli.main(["telegram-webhook", url]) == 1
    assert "TELEGRAM_WEBHOOK_SECRET" in capsys.readouterr().err
    assert len(telegram.sent("setWebhook")) == 1

    assert cli.main(["telegram-webhook", "--delete"]) == 0
    assert telegram.sent("deleteWebhook")


def test_polling_mode_runs_the_same_handlers(tg_settings, telegram):
    load_roster(tg_settings.database_url)
    telegram.queue_update(update("start"))
    with TestClient(create_app(tg_settings, telegram_polling=True)) as client:
        telegram.wait_for(lambda: any("personnummer" in t for t in telegram.texts(CHAT)), what="the greeting")
        assert post(client, update("start")).status_code == 404  # no webhook route while polling
    assert telegram.sent("deleteWebhook")  # polling and a webhook cannot both be on


def test_delivery_left_pending_by_a_stopped_process_is_sent_again(tg_settings, telegram):
    """A message stored and marked pending, but never sent (the process stopped), goes out later."""
    load_roster(tg_settings.database_url)
    quick = tg_settings.model_copy(update={"claim_check_seconds": 0.2})
    with TestClient(create_app(quick)) as client:
        send(client, update("start"))
        conv_id = eventually(lambda: conversation(client), "the conversation").id
        settled(client)
        with client.app.state.services.sessions() as session, session.begin():
            conv = session.get(Conversation, conv_id)
            # Stored and committed with its pending delivery, but the process stopped before sending it.
            msg = service.append_message(session, conv, Author.system, "Ett meddelande som fastnade.",
                                         outbox=service.Outbox())
            session.execute(sql_update(Delivery).where(Delivery.message_id == msg.id)
                            .values(updated_at=utcnow() - timedelta(minutes=5)))
        telegram.wait_for(lambda: "Ett meddelande som fastnade." in telegram.texts(CHAT), what="the resend")
        row = final_delivery(client, conv_id, msg.seq)
        assert row.state == "sent" and row.attempts == 1
        assert telegram.texts(CHAT).count("Ett meddelande som fastnade.") == 1


def test_residents_hear_of_a_roster_change_made_from_the_command_line(tg_settings, telegram, tmp_path, monkeypatch):
    """The operator's load-roster runs outside the service: the notice to the Telegram resident is committed
    with the change, and the running service sends it."""
    load_roster(tg_settings.database_url)
    quick = tg_settings.model_copy(update={"claim_check_seconds": 0.2, "delivery_resend_seconds": 0.5})
    with TestClient(create_app(quick)) as client:
        conv_id, _, name = claimed_handoff(client, telegram, quick)
        roster_file = FIXTURES / "roster_always.yml"
        left = tmp_path / "roster.yml"
        left.write_text("\n".join(line for line in roster_file.read_text(encoding="utf-8").splitlines()
                                  if f"name: {name}," not in line) + "\n", encoding="utf-8")
        monkeypatch.setenv("DATABASE_URL", quick.database_url)
        assert cli.main(["load-roster", str(left)]) == 0
        notice = telegram.wait_for(lambda: next(
            (t for t in telegram.texts(CHAT) if t.startswith(f"{name} arbetar inte kvar med det här.")), None),
            what="the notice of the new official")
        assert "bygglovshandläggare, tar över din fråga." in notice
        settled(client)
        assert sum(t.startswith(f"{name} arbetar inte kvar") for t in telegram.texts(CHAT)) == 1
        with client.app.state.services.sessions() as session:
            assert service.state_name(session.get(Conversation, conv_id)) == "waiting"

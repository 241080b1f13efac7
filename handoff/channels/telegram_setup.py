"""Setting the Telegram channel up: the webhook secret, PTB's Application, registering the webhook."""
from __future__ import annotations

import logging
import re

from pydantic import SecretStr
from telegram import Bot
from telegram.error import InvalidToken
from telegram.ext import Application, ApplicationBuilder

from ..config import PLACEHOLDER_SECRETS, Settings

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_FORM = re.compile(r"^[A-Za-z0-9_-]{16,256}$")  # Telegram allows only these characters
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member", "channel_post"]


class TelegramSetupError(RuntimeError):
    """The channel cannot run as configured; the message tells the operator what to change."""


def _file_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base + "/file"


def check_webhook_secret(secret: SecretStr | str | None) -> str:
    """The webhook secret, or TelegramSetupError saying what a usable one looks like."""
    raw = secret.get_secret_value() if isinstance(secret, SecretStr) else (secret or "")
    if raw.strip().lower() in PLACEHOLDER_SECRETS or not SECRET_FORM.match(raw):
        raise TelegramSetupError(
            "TELEGRAM_WEBHOOK_SECRET must be set when TELEGRAM_BOT_TOKEN is: 16 to 256 characters of "
            "A-Z, a-z, 0-9, _ and - (Telegram's rule), e.g. from `python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`. Without a public address, use `python -m handoff telegram-poll`."
        )
    return raw


def build_application(settings: Settings, *, polling: bool = False) -> Application:
    """PTB's Application for the municipality's bot; without an updater in webhook mode."""
    builder = ApplicationBuilder().token(settings.telegram_bot_token.get_secret_value())
    if settings.telegram_api_base_url:
        builder = builder.base_url(settings.telegram_api_base_url).base_file_url(
            _file_url(settings.telegram_api_base_url))
    if not polling:
        builder = builder.updater(None)
    return builder.build()


def _bot(token: str, base_url: str | None) -> Bot:
    if base_url:
        return Bot(token, base_url=base_url, base_file_url=_file_url(base_url))
    return Bot(token)


async def register_webhook(*, token: str, url: str, secret: str | None, base_url: str | None = None) -> str:
    """Tell Telegram where to send updates, with the secret it must present; returns the URL Telegram has."""
    if not url.startswith("https://"):
        raise TelegramSetupError(f"Telegram only calls https:// addresses, not {url!r}.")
    secret = check_webhook_secret(secret)
    try:
        async with _bot(token, base_url) as bot:
            await bot.set_webhook(url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
            info = await bot.get_webhook_info()
    except InvalidToken:
        raise TelegramSetupError("Telegram refused TELEGRAM_BOT_TOKEN: copy it again from BotFather.") from None
    return info.url


async def remove_webhook(*, token: str, base_url: str | None = None) -> None:
    """Stop webhook delivery (before switching to polling, or when the service moves)."""
    try:
        async with _bot(token, base_url) as bot:
            await bot.delete_webhook()
    except InvalidToken:
        raise TelegramSetupError("Telegram refused TELEGRAM_BOT_TOKEN: copy it again from BotFather.") from None


def quiet_loggers() -> None:
    """httpx logs every request URL at INFO, and Bot API URLs carry the bot token; PTB logs each
    call's parameters (the message texts) at DEBUG. Neither belongs in the service's logs."""
    for name, floor in (("httpx", logging.WARNING), ("telegram", logging.INFO)):
        logger = logging.getLogger(name)
        if logger.level < floor:  # NOTSET (0) included: it would follow a root logger set to DEBUG
            logger.setLevel(floor)


"""Operator commands: migrate, load-roster, demo-logins, serve, telegram-webhook, telegram-poll."""
from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from .config import ROOT


def _database_url() -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{ROOT / 'var' / 'handoff.db'}"


def routing_policy() -> dict:
    """The routing settings without the service's secrets (the roster command needs no token)."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    return {
        "tz": ZoneInfo(os.environ.get("TIMEZONE", "Europe/Stockholm")),
        "service_time": timedelta(minutes=int(os.environ.get("SERVICE_TIME_MINUTES", "120"))),
        "contact_centre_unit": os.environ.get("CONTACT_CENTRE_UNIT", "kontaktcenter"),
    }


def cmd_migrate(_args) -> int:
    from .migrate import upgrade

    upgrade(_database_url())
    print("database schema is up to date")
    return 0


def cmd_load_roster(args) -> int:
    import yaml

    from .db import make_engine, make_sessionmaker
    from .roster import RosterError, read_file

    topics = set(yaml.safe_load((ROOT / "data" / "topics.yml").read_text(encoding="utf-8"))["topics"])
    try:
        officials = read_file(Path(args.file), topics)
    except (RosterError, OSError) as exc:
        print(f"roster not loaded: {exc}", file=sys.stderr)
        return 1
    engine = make_engine(_database_url())
    with make_sessionmaker(engine)() as session, session.begin():
        from .service import Outbox, load_roster

        # The residents' notices become deliveries in this same transaction; a running service sends them.
        change = load_roster(session, officials, actor="operator", outbox=Outbox(), **routing_policy())
    engine.dispose()
    print(f"roster loaded: {len(officials)} listed, {len(change.arrived)} arrived, "
          f"{len(change.updated)} updated, {len(change.left)} left")
    return 0


def cmd_demo_logins(args) -> int:
    """Give every active demo official a fresh random password and print the logins."""
    from sqlalchemy import select

    from .auth import hash_password
    from .db import make_engine, make_sessionmaker
    from .models import Official

    engine = make_engine(_database_url())
    lines = []
    with make_sessionmaker(engine)() as session, session.begin():
        for o in session.scalars(select(Official).where(Official.active.is_(True)).order_by(Official.unit, Official.id)):
            password = secrets.token_urlsafe(9)
            o.password_hash = hash_password(password)
            o.failed_logins, o.locked_until = 0, None
            lines.append(f"{o.username:<18} {password:<14} {o.name}, {o.title} ({', '.join(o.topics)})")
    engine.dispose()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out.chmod(0o600)
    print(f"demo logins written to {out}")
    return 0


def cmd_serve(args) -> int:
    import uvicorn

    uvicorn.run("handoff.app:create_app", factory=True, host=args.host, port=args.port,
                log_level=args.log_level, proxy_headers=True)
    return 0


def cmd_telegram_webhook(args) -> int:
    """Register (or remove) the webhook with Telegram; never done at start-up."""
    import asyncio

    from .channels.telegram_setup import TelegramSetupError, register_webhook, remove_webhook

    token = os.environ.get("TELEGRAM_BOT_TOKEN", "")
    base_url = os.environ.get("TELEGRAM_API_BASE_URL") or None
    if not token:
        print("telegram-webhook: TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        return 1
    try:
        if args.delete:
            asyncio.run(remove_webhook(token=token, base_url=base_url))
            print("webhook removed: Telegram keeps updates until the bot polls or a webhook is set")
            return 0
        if not args.url:
            print("telegram-webhook: give the public URL, e.g. https://chatt.example.se/telegram/webhook", file=sys.stderr)
            return 1
        url = asyncio.run(register_webhook(token=token, url=args.url, base_url=base_url,
                                           secret=os.environ.get("TELEGRAM_WEBHOOK_SECRET")))
    except TelegramSetupError as exc:
        print(f"telegram-webhook: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - network trouble: one line, not a traceback
        print(f"telegram-webhook: Telegram did not answer ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1
    print(f"webhook set: Telegram sends updates to {url}")
    return 0


def cmd_telegram_poll(args) -> int:
    """The HTTP service with Telegram updates fetched by polling instead of a webhook."""
    import uvicorn

    from .app import create_app

    if not os.environ.get("TELEGRAM_BOT_TOKEN"):
        print("telegram-poll: TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        return 1
    uvicorn.run(create_app(telegram_polling=True), host=args.host, port=args.port,
                log_level=args.log_level, proxy_headers=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(func=cmd_migrate)
    p = sub.add_parser("load-roster", help="load officials from a YAML or CSV file")
    p.add_argument("file", nargs="?", default=str(ROOT / "data" / "officials.yml"))
    p.set_defaults(func=cmd_load_roster)
    p = sub.add_parser("demo-logins", help="set random passwords for the demo roster and write them to a file")
    p.add_argument("--out", default=str(ROOT / "var" / "demo-logins.txt"))
    p.set_defaults(func=cmd_demo_logins)
    def server_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--log-level", default="info")

    p = sub.add_parser("serve", help="run the HTTP service")
    server_options(p)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("telegram-webhook", help="tell Telegram the public URL of /telegram/webhook (or --delete it)")
    p.add_argument("url", nargs="?", help="e.g. https://chatt.example.se/telegram/webhook")
    p.add_argument("--delete", action="store_true", help="remove the webhook instead")
    p.set_defaults(func=cmd_telegram_webhook)
    p = sub.add_parser("telegram-poll", help="run the HTTP service and fetch Telegram updates by polling")
    server_options(p)
    p.set_defaults(func=cmd_telegram_poll)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

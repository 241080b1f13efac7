"""The switchboard's ASGI app: create_app(settings) wires storage, events, Rasa and routes."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from . import catalogue as catalogue_mod
from . import jobs, texts
from .api import admin, console, internal, live, residents, widget
from .channels.telegram import TelegramChannel
from .config import Settings, load_settings
from .db import make_engine, make_sessionmaker
from .events import make_bus
from .rasa import RasaClient
from .switchboard import Switchboard

STATIC = Path(__file__).parent / "static"
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, telegram_polling: bool = False) -> FastAPI:
    settings = settings or load_settings()
    # Telegram is on only with a bot token; by webhook, or by polling for a machine without a public address.
    telegram = TelegramChannel(settings, polling=telegram_polling) if settings.telegram_bot_token else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = make_engine(settings.database_url)
        bus = make_bus(settings.redis_url)
        await bus.start()
        rasa = RasaClient(settings.rasa_url, settings.rasa_token.get_secret_value(), settings.rasa_timeout_seconds)
        app.state.services = Switchboard(
            settings=settings, sessions=make_sessionmaker(engine), bus=bus, rasa=rasa,
            catalogue=catalogue_mod.load(settings.topics_file, settings.municipality_file),
            tz=ZoneInfo(settings.timezone),
        )
        watcher = asyncio.create_task(jobs.watch_unclaimed(app.state.services))
        try:
            if telegram is not None:
                await telegram.start(app.state.services)
                app.state.services.channels["telegram"] = telegram
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            if telegram is not None:
                await telegram.stop()  # lets queued Telegram messages go out while the database is still open
            await rasa.aclose()
            await bus.stop()
            engine.dispose()

    app = FastAPI(
        title="Kommunchatt handoff service",
        description="The switchboard between residents, the Rasa assistant and named officials.",
        version="0.1.0",
        lifespan=lifespan,
    )
    if settings.widget_origins:
        # The widget on the municipality's own site calls the resident API across origins;
        # residents carry a secret header, never cookies, so no credentials are allowed.
        app.add_middleware(CORSMiddleware, allow_origins=settings.widget_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-Resident-Secret"], allow_credentials=False)
    app.include_router(residents.router)
    app.include_router(widget.router)
    app.include_router(console.router)
    app.include_router(internal.router)
    if telegram is not None and not telegram_polling:
        app.include_router(telegram.router)
    app.include_router(live.router)
    app.include_router(admin.router)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        if request.url.path.startswith("/api/conversations"):
            return JSONResponse({"detail": texts.text("error_bad_request")}, status_code=422)
        return JSONResponse({"detail": exc.errors()}, status_code=422)

    @app.get("/health", tags=["health"])
    def health(request: Request):
        svc = request.app.state.services
        with svc.sessions() as session:
            session.execute(text("SELECT 1"))
        # Live events through Redis may be away for a while (the service works on, and catches up)
        events = "ok" if getattr(svc.bus, "connected", True) else "reconnecting"
        return {"status": "ok", "events": events}

    @app.get("/", include_in_schema=False)
    def demo_page():
        return FileResponse(STATIC / "index.html")

    @app.get("/console", include_in_schema=False)
    def console_page():
        return FileResponse(STATIC / "console.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app

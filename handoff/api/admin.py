"""The administrator's way to load the roster (YAML or CSV), with a token of its own."""
from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Header, HTTPException, Request

from .. import auth, roster
from .deps import Services, services

router = APIRouter(prefix="/api/admin", tags=["admin"])
MAX_ROSTER_BYTES = 2_000_000


def admin_caller(svc: Services = Depends(services), authorization: str | None = Header(default=None)) -> None:
    if svc.settings.admin_token is None:
        raise HTTPException(404, "the admin API is off (set ADMIN_TOKEN to turn it on)")
    if not auth.internal_token_ok(svc.settings.admin_token.get_secret_value(), authorization):
        raise HTTPException(401, "wrong or missing admin token")


@router.put("/roster", dependencies=[Depends(admin_caller)])
async def load_roster(request: Request, svc: Services = Depends(services)):
    """Replace the roster: body is a YAML roster (Content-Type application/yaml) or CSV (text/csv).
    Officials not listed are deactivated, never deleted; their open chats go to a colleague."""
    body = await request.body()
    if len(body) > MAX_ROSTER_BYTES:
        raise HTTPException(413, "roster file too large")
    suffix = ".csv" if "csv" in (request.headers.get("content-type") or "") else ".yml"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"roster{suffix}"
        path.write_bytes(body)
        try:
            officials = roster.read_file(path, svc.catalogue.topic_keys)
        except (roster.RosterError, ValueError) as exc:
            raise HTTPException(422, f"roster not loaded: {exc}") from None
    change = await svc.load_roster(officials)
    return {"listed": len(officials), "arrived": change.arrived, "updated": change.updated, "left": change.left}

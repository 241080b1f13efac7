"""Settings of the handoff service, read from the environment when asked for."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "password", "xxx", "todo"}


class Settings(BaseSettings):
    """One place for every setting; secrets have no default on purpose."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    database_url: str = f"sqlite:///{ROOT / 'var' / 'handoff.db'}"
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: SecretStr = Field(description="token of the Rasa server's --auth-token")
    handoff_internal_token: SecretStr = Field(
        description="shared token the action server presents on /internal calls"
    )
    redis_url: str | None = None
    admin_token: SecretStr | None = None
    topics_file: Path = ROOT / "data" / "topics.yml"
    roster_file: Path = ROOT / "data" / "officials.yml"
    municipality_file: Path = ROOT / "data" / "municipality.yml"
    timezone: str = "Europe/Stockholm"
    contact_centre_unit: str = "kontaktcenter"
    service_time_minutes: int = 120
    claim_timeout_seconds: int = 300
    claim_check_seconds: float = 15.0
    # past this the resident is told the assistant does not answer now; its answer follows when it comes
    rasa_timeout_seconds: float = 10.0
    # a Telegram message committed but still pending this long (its process stopped) is sent by any replica
    delivery_resend_seconds: float = 120.0
    session_hours: int = 10
    cookie_secure: bool = False
    # web sites (origins) allowed to embed the chat widget, e.g. https://www.exempelby.se
    widget_origins: list[str] = []
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base_url: str | None = None

    @field_validator("rasa_token", "handoff_internal_token", "admin_token")
    @classmethod
    def _not_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        raw = value.get_secret_value().strip()
        if raw.lower() in PLACEHOLDER_SECRETS or len(raw) < 16:
            raise ValueError("must be a real secret of at least 16 characters")
        return value


def load_settings(**overrides) -> Settings:
    """Read settings now; a missing secret stops start-up with a clear message."""
    try:
        return Settings(**overrides)
    except Exception as exc:  # pydantic.ValidationError, made readable for operators
        missing = []
        for err in getattr(exc, "errors", lambda: [])():
            name = ".".join(str(p) for p in err.get("loc", ())).upper()
            missing.append(f"{name}: {err.get('msg')}")
        detail = "; ".join(missing) or str(exc)
        raise SystemExit(f"handoff: configuration error: {detail}") from None

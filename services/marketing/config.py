"""Marketing's own settings (HANSE_ environment variables) and the unit of work its domain takes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends
from pydantic import Field, PrivateAttr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hanse.app import unit_of_work, writing_unit_of_work
from hanse.ratelimit import parse_limit
from hanse.settings import MIN_SECRET_LENGTH, Settings, dev_secret
from hanse.uow import UnitOfWork

LOOPBACK = ("localhost", "127.0.0.1", "::1")


class MarketingConfig(BaseSettings):
    """Settings only the marketing service reads (HANSE_ environment variables)."""

    model_config = SettingsConfigDict(env_prefix="HANSE_", extra="ignore")

    # Public lead form: requests per client IP, in the `limits` notation ("10/minute", "100/hour").
    lead_rate_limit: str = "10/minute"
    # Public subscribe form, per client IP; confirm and unsubscribe links have their own, looser limit.
    subscribe_rate_limit: str = "10/minute"
    link_rate_limit: str = "60/minute"
    # True only when the gateway is the sole way in: then the client IP comes from X-Forwarded-For.
    behind_gateway: bool = False
    # The version of the consent text the form shows; a form may send the version it displayed.
    consent_text_version: str = "2026-01"
    # Signs confirmation and unsubscribe tokens and keys the suppression list (HMAC). Required in
    # prod; in dev and test generated once into $HANSE_DATA_DIR like the JWT secret.
    marketing_secret: str | None = None
    # Where people reach the gateway: links in mail (confirm, List-Unsubscribe) and sitemap URLs of
    # the API. https, except a loopback host in dev (links of `make dev` then work as they are).
    marketing_public_url: str = "http://127.0.0.1:8000"
    # The storefront whose product pages the sitemap lists: <site>/<language>/products/<slug>.
    storefront_url: str = "https://shop.hanse.localhost"
    # Confirmation links expire after this many days.
    confirm_token_days: int = Field(7, ge=1, le=90)
    # Newsletter fan-out: recipients written to the mail outbox per scheduler run, and how often it runs.
    newsletter_batch_size: int = Field(200, ge=1, le=10_000)
    newsletter_every_seconds: float = Field(0.5, gt=0)
    nurture_every_seconds: float = Field(60.0, gt=0)

    _data_dir: Path = PrivateAttr(default=Path("./var"))

    @field_validator("lead_rate_limit", "subscribe_rate_limit", "link_rate_limit")
    @classmethod
    def _parsable(cls, v: str) -> str:
        return parse_limit(v)  # a notation `limits` does not understand fails at start

    @field_validator("marketing_public_url", "storefront_url")
    @classmethod
    def _https(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme == "https" and parts.hostname:
            return v.rstrip("/")
        if parts.scheme == "http" and parts.hostname in LOOPBACK:
            return v.rstrip("/")
        raise ValueError("must be an https:// URL (http only for a loopback host)")

    def resolve(self, settings: Settings) -> MarketingConfig:
        """Check the secret at start: required in prod; in dev and test generated on first use."""
        if self.marketing_secret:
            if len(self.marketing_secret) < MIN_SECRET_LENGTH:
                raise ValueError(f"HANSE_MARKETING_SECRET must be at least {MIN_SECRET_LENGTH} characters")
        elif settings.env == "prod":
            raise ValueError("HANSE_MARKETING_SECRET must be set in prod")
        self._data_dir = settings.data_dir
        return self

    @property
    def secret(self) -> str:
        if not self.marketing_secret:
            # Generated lazily, so importing the app writes nothing; every process of a dev run shares it.
            self.marketing_secret = dev_secret(self._data_dir, "marketing-secret")
        return self.marketing_secret


UoW = UnitOfWork[MarketingConfig]
# What a route declares to get the request's unit of work.
UoWDep = Annotated[UoW, Depends(unit_of_work)]


# For the GETs that change state (the confirmation link in a mail must be a GET).
WritingUoWDep = Annotated[UoW, Depends(writing_unit_of_work)]

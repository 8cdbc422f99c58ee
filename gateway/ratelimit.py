"""Rate limits at the gateway: per client IP on public routes and login, per token subject elsewhere.

The counting is the kernel's (`hanse.ratelimit`); this module holds the gateway's three limits and
their settings. Counters live in this process; with several gateway replicas each enforces its own.
"""

from __future__ import annotations

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hanse.ratelimit import RateLimiter, parse_limit


class RateLimitSettings(BaseSettings):
    """HANSE_GATEWAY_* limits in the `limits` notation ("100/minute", "10/second;600/minute") or "off"."""

    model_config = SettingsConfigDict(env_prefix="HANSE_GATEWAY_", extra="ignore")

    # Every request that carries a token, counted per token subject (user name or client id).
    rate_limit: str = "1200/minute"
    # Public department routes (lead form, payment and carrier webhooks), per client IP.
    public_rate_limit: str = "60/minute"
    # POST /api/v1/auth/token, per client IP: slows password guessing.
    login_rate_limit: str = "30/minute"

    @field_validator("rate_limit", "public_rate_limit", "login_rate_limit")
    @classmethod
    def _parsable(cls, value: str) -> str:
        return parse_limit(value)  # fail at start on a notation `limits` does not understand


class GatewayLimits:
    """The three limits the gateway applies."""

    def __init__(self, settings: RateLimitSettings | None = None) -> None:
        settings = settings or RateLimitSettings()
        self.settings = settings
        self.per_subject = RateLimiter("subject", settings.rate_limit)
        self.public = RateLimiter("public", settings.public_rate_limit)
        self.login = RateLimiter("login", settings.login_rate_limit)

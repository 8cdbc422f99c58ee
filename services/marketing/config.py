"""Marketing's own settings (HANSE_ environment variables) and the unit of work its domain takes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hanse.app import unit_of_work
from hanse.ratelimit import parse_limit
from hanse.uow import UnitOfWork


class MarketingConfig(BaseSettings):
    """Settings only the marketing service reads (HANSE_ environment variables)."""

    model_config = SettingsConfigDict(env_prefix="HANSE_", extra="ignore")

    # Public lead form: requests per client IP, in the `limits` notation ("10/minute", "100/hour").
    lead_rate_limit: str = "10/minute"
    # True only when the gateway is the sole way in: then the client IP comes from X-Forwarded-For.
    behind_gateway: bool = False
    # The version of the consent text the form shows; a form may send the version it displayed.
    consent_text_version: str = "2026-01"

    @field_validator("lead_rate_limit")
    @classmethod
    def _parsable(cls, v: str) -> str:
        return parse_limit(v)  # a notation `limits` does not understand fails at start


UoW = UnitOfWork[MarketingConfig]
# What a route declares to get the request's unit of work.
UoWDep = Annotated[UoW, Depends(unit_of_work)]

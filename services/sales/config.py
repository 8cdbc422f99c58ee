"""The sales department's settings (env HANSE_SALES_*) and the unit of work its domain takes."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import Depends
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hanse.app import unit_of_work
from hanse.ratelimit import parse_limit
from hanse.uow import UnitOfWork


class SalesConfig(BaseSettings):
    """Sales' own knobs: quote validity and the cargo insurance rate, read once so a bad value fails at start."""

    model_config = SettingsConfigDict(env_prefix="HANSE_SALES_", extra="ignore", populate_by_name=True)

    quote_validity_days: int = Field(30, ge=1, le=365)
    # Premium as a fraction of the insured value (0.003 = 0.3 %), a common cargo rate.
    insurance_rate: Decimal = Field(Decimal("0.003"), ge=0, le=Decimal("0.2"))
    # How often the scheduler looks for breached SLA clocks and lost inquiries (seconds).
    sla_check_seconds: float = Field(30.0, gt=0, le=3600)
    # Public inquiry form: requests per client IP, in the `limits` notation ("10/minute").
    inquiry_rate_limit: str = "10/minute"
    # True only when the gateway is the sole way in: then the client IP comes from X-Forwarded-For.
    # The platform-wide HANSE_BEHIND_GATEWAY (set by make dev, compose and kustomize) turns it on.
    behind_gateway: bool = Field(
        False, validation_alias=AliasChoices("HANSE_SALES_BEHIND_GATEWAY", "HANSE_BEHIND_GATEWAY")
    )
    # How long a finance PDF fetch for the invoice mail may take, and how often queued invoice mail is sent (s).
    finance_timeout: float = Field(10.0, gt=0, le=120)
    invoice_mail_seconds: float = Field(2.0, gt=0, le=3600)

    @field_validator("inquiry_rate_limit")
    @classmethod
    def _parsable(cls, v: str) -> str:
        return parse_limit(v)  # a notation `limits` does not understand fails at start


UoW = UnitOfWork[SalesConfig]
# What a route declares to get the request's unit of work.
UoWDep = Annotated[UoW, Depends(unit_of_work)]

"""The sales department's settings (env HANSE_SALES_*) and the unit of work its domain takes."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import Depends
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from hanse.app import unit_of_work
from hanse.uow import UnitOfWork


class SalesConfig(BaseSettings):
    """Sales' own knobs: quote validity and the cargo insurance rate, read once so a bad value fails at start."""

    model_config = SettingsConfigDict(env_prefix="HANSE_SALES_", extra="ignore")

    quote_validity_days: int = Field(30, ge=1, le=365)
    # Premium as a fraction of the insured value (0.003 = 0.3 %), a common cargo rate.
    insurance_rate: Decimal = Field(Decimal("0.003"), ge=0, le=Decimal("0.2"))


UoW = UnitOfWork[SalesConfig]
# What a route declares to get the request's unit of work.
UoWDep = Annotated[UoW, Depends(unit_of_work)]

"""The finance department's settings (env HANSE_FINANCE_*) and the unit of work its domain takes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from pydantic_settings import BaseSettings, SettingsConfigDict

from hanse.app import unit_of_work
from hanse.uow import UnitOfWork


class FinanceConfig(BaseSettings):
    """Finance has no settings of its own yet.

    The seller country and the base currency it invoices with are platform-wide
    (`HANSE_SELLER_COUNTRY`, `HANSE_BASE_CURRENCY`) and come from `uow.settings`; a finance-only
    setting belongs here, under the HANSE_FINANCE_ prefix.
    """

    model_config = SettingsConfigDict(env_prefix="HANSE_FINANCE_", extra="ignore")


UoW = UnitOfWork[FinanceConfig]
# What a route declares to get the request's unit of work.
UoWDep = Annotated[UoW, Depends(unit_of_work)]

"""The logistics department's settings, and the unit of work its domain and handlers take."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from pydantic_settings import BaseSettings, SettingsConfigDict

from hanse.app import unit_of_work
from hanse.uow import UnitOfWork


class LogisticsConfig(BaseSettings):
    """Nothing of logistics is tunable yet: the tariff and zones ship as data/, the rest is kernel Settings."""

    model_config = SettingsConfigDict(env_prefix="HANSE_LOGISTICS_", extra="ignore")


UoW = UnitOfWork[LogisticsConfig]
# What a route declares to get the request's unit of work.
UoWDep = Annotated[UoW, Depends(unit_of_work)]

"""The logistics department's settings, and the unit of work its domain and handlers take."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from hanse.uow import UnitOfWork


class LogisticsConfig(BaseSettings):
    """Nothing of logistics is tunable yet: the tariff and zones ship as data/, the rest is kernel Settings."""

    model_config = SettingsConfigDict(env_prefix="HANSE_LOGISTICS_", extra="ignore")


UoW = UnitOfWork[LogisticsConfig]

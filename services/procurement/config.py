"""The procurement department's settings (env HANSE_PROCUREMENT_*) and the unit of work its domain takes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from pydantic_settings import BaseSettings, SettingsConfigDict

from hanse.app import unit_of_work, writing_unit_of_work
from hanse.uow import UnitOfWork
from services.procurement.models import Incoterm


class ProcurementConfig(BaseSettings):
    """What procurement decides on its own; the base currency and seller country are platform-wide."""

    model_config = SettingsConfigDict(env_prefix="HANSE_PROCUREMENT_", extra="ignore")

    # The Incoterm of a purchase order that a reorder rule raises (a buyer edits it before sending).
    default_incoterm: Incoterm = "FCA"
    # The buyer named on purchase orders and in the mail to suppliers.
    company_name: str = "Hanse Trading GmbH"


UoW = UnitOfWork[ProcurementConfig]
# What a route declares to get the request's unit of work.
UoWDep = Annotated[UoW, Depends(unit_of_work)]
# For a GET that stores a document the first time it is fetched.
WritingUoWDep = Annotated[UoW, Depends(writing_unit_of_work)]

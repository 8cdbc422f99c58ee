"""The logistics department's settings, and the unit of work its domain and handlers take."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from hanse.app import unit_of_work, writing_unit_of_work
from hanse.ratelimit import parse_limit
from hanse.uow import UnitOfWork


class LogisticsConfig(BaseSettings):
    """The tariff and zones ship as data/; what differs per installation is here."""

    # An empty variable (as in a compose .env left blank) means unset, not malformed JSON.
    model_config = SettingsConfigDict(
        env_prefix="HANSE_LOGISTICS_", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    # HANSE_CARRIER_SECRETS: a JSON object from carrier id to the secret its events are signed with
    # (HMAC-SHA256). Required with HANSE_ENV=prod; in dev and test, unset carriers get one generated
    # once into $HANSE_DATA_DIR (carrier-secret-<id>).
    carrier_secrets: dict[str, str] = Field(default_factory=dict, validation_alias="HANSE_CARRIER_SECRETS")
    # The public carrier-event route, per client address (`limits` notation, or "off").
    carrier_event_rate_limit: Annotated[str, Field(min_length=1)] = "600/minute"

    def model_post_init(self, _: object) -> None:
        parse_limit(self.carrier_event_rate_limit)


UoW = UnitOfWork[LogisticsConfig]
# What a route declares to get the request's unit of work.
UoWDep = Annotated[UoW, Depends(unit_of_work)]
# For a GET that stores a document the first time it is fetched.
WritingUoWDep = Annotated[UoW, Depends(writing_unit_of_work)]

"""The finance department's settings (env HANSE_FINANCE_*) and the unit of work its domain takes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends
from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from hanse.app import unit_of_work, writing_unit_of_work
from hanse.uow import UnitOfWork


class Seller(BaseModel):
    """Who issues the invoices, as printed on them."""

    name: str
    address: str
    vat_id: str
    bank: str
    iban: str
    bic: str


class FinanceConfig(BaseSettings):
    """Finance's settings: the seller printed on invoices (HANSE_FINANCE_SELLER_*) and the payment providers.

    The seller country and the base currency it invoices with are platform-wide
    (`HANSE_SELLER_COUNTRY`, `HANSE_BASE_CURRENCY`) and come from `uow.settings`. The provider
    settings have the fixed names of the product contract (no HANSE_FINANCE_ prefix); unset, they
    are generated once into $HANSE_DATA_DIR in dev (`services/finance/providers.py`).
    """

    model_config = SettingsConfigDict(env_prefix="HANSE_FINANCE_", extra="ignore", populate_by_name=True)

    seller_name: str = "Hanse Trading GmbH"
    seller_address: str = "Am Sandtorkai 1, 20457 Hamburg, Germany"
    seller_vat_id: str = "DE123456788"
    seller_bank: str = "Hamburger Sparkasse"
    seller_iban: str = "DE89 3704 0044 0532 0130 00"
    seller_bic: str = "HASPDEHHXXX"

    # Behind the gateway the client's address is the last X-Forwarded-For entry (rate limits).
    behind_gateway: bool = Field(
        default=False, validation_alias=AliasChoices("HANSE_BEHIND_GATEWAY", "behind_gateway")
    )  # the platform-wide setting (deploy sets it), as marketing reads it
    webhook_rate_limit: str = "120/minute"

    stripe_webhook_secret: str | None = Field(
        default=None, validation_alias=AliasChoices("HANSE_STRIPE_WEBHOOK_SECRET", "stripe_webhook_secret")
    )
    paypal_webhook_id: str | None = Field(
        default=None, validation_alias=AliasChoices("HANSE_PAYPAL_WEBHOOK_ID", "paypal_webhook_id")
    )
    paypal_cert_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("HANSE_PAYPAL_CERT_FILE", "paypal_cert_file")
    )
    alipay_public_key_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("HANSE_ALIPAY_PUBLIC_KEY_FILE", "alipay_public_key_file")
    )

    @property
    def seller(self) -> Seller:
        return Seller(
            name=self.seller_name,
            address=self.seller_address,
            vat_id=self.seller_vat_id,
            bank=self.seller_bank,
            iban=self.seller_iban,
            bic=self.seller_bic,
        )


UoW = UnitOfWork[FinanceConfig]
# What a route declares to get the request's unit of work.
UoWDep = Annotated[UoW, Depends(unit_of_work)]
# For a GET that stores a document the first time it is fetched.
WritingUoWDep = Annotated[UoW, Depends(writing_unit_of_work)]

"""Freight quotes: the tariff's price for a consignment, in the currency the buyer asks for."""

from __future__ import annotations

from hanse.errors import Invalid
from hanse.money import FxRate, Money, convert
from hanse.settings import Settings
from services.logistics import views
from services.logistics.domain.rules import TARIFF_CURRENCY, price_freight
from services.logistics.models import RateQuotePublic, RateRequest


def quote_freight(body: RateRequest, settings: Settings) -> RateQuotePublic:
    """Origin defaults to the seller's country, currency to the base currency (ECB rate from EUR)."""
    origin = body.origin_country or settings.seller_country
    currency = body.currency or settings.base_currency
    priced = price_freight(
        body.mode, origin, body.destination_country, body.weight_kg, body.volume_m3, carrier=body.carrier
    )
    price = Money.of(priced.price, TARIFF_CURRENCY)
    fx: FxRate | None = None
    if currency != TARIFF_CURRENCY:
        try:
            price, fx = convert(price, currency)
        except ValueError as exc:
            raise Invalid(str(exc), field="currency") from None
    return views.rate_quote_public(priced, origin, body.destination_country, price, fx)

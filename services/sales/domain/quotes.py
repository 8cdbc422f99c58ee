"""Quotes: priced from the catalogue (and logistics' freight), issued with their validity and insurance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Invalid
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.money import FxRate, Money, ecb_rate, round_money
from services.sales import views
from services.sales.config import UoW
from services.sales.domain import inquiries, notify
from services.sales.domain.catalogue import catalogue_of
from services.sales.domain.rules import (
    Goods,
    answer_moq,
    carrier_and_mode,
    fx_applied,
    incoterm,
    price_goods,
    quote_totals,
)
from services.sales.models import Account, Quote, QuoteCreate, QuoteLineRow, TradeTerms


@dataclass(frozen=True)
class Freight:
    """Logistics' price for the main carriage, and the ECB rate it converted its tariff at."""

    price: Money
    fx: FxRate | None = None


@dataclass(frozen=True)
class QuoteDraft:
    """A quote priced for its goods, before freight (which needs logistics) is known."""

    request: QuoteCreate
    incoterm: str
    mode: str
    goods: Goods
    payment_terms: str | None = None  # a sales frame's; None: the account's at acceptance
    notes: list[str | None] | None = None  # per line, why it differs from what was asked


async def draft_quote(uow: UoW, data: QuoteCreate) -> QuoteDraft:
    account = await uow.session.get(Account, data.account_id)
    if account is None:
        raise Invalid(f"no account {data.account_id!r}", field="account_id")
    # An active sales frame contract sets the defaults of the account's new quotes.
    if data.incoterm is None and account.frame_incoterm is None:
        raise Invalid("incoterm is required (the account has no sales frame that sets one)", field="incoterm")
    term = incoterm(data.incoterm or account.frame_incoterm or "")
    mode = carrier_and_mode(term, data.carrier, data.mode, uow.settings.seller_country, data.destination_country)
    requested = [(line.sku, line.quantity) for line in data.lines or []]
    if data.inquiry_id is not None:
        _, asked = await inquiries.inquiry_to_quote(uow, data.inquiry_id)
        requested = requested or [(line.sku, line.quantity) for line in asked]
    if not requested:
        raise Invalid("lines are required (or an inquiry_id whose lines to quote)", field="lines")
    catalogue = await catalogue_of(uow.session, sorted({sku for sku, _ in requested}))
    notes: list[str | None] = [None] * len(requested)
    if data.inquiry_id is not None:
        requested, notes = answer_moq(requested, catalogue)
    goods = price_goods(requested, catalogue, data.currency)
    return QuoteDraft(data, term, mode, goods, account.frame_payment_terms, notes)


def _freight_in(currency: str, freight: Freight) -> tuple[Decimal, FxRate | None]:
    """The freight amount in the quote currency, and the rate it was converted at."""
    amount, fx = freight.price.amount, freight.fx
    if freight.price.currency != currency:
        # Logistics should answer in the quote currency; convert here if it did not.
        try:
            fx = ecb_rate(freight.price.currency, currency)
        except ValueError as exc:
            raise Invalid(f"cannot convert freight into {currency}: {exc}", field="currency") from None
        amount = amount * fx.rate
    return round_money(amount, currency), fx


async def issue_quote(uow: UoW, draft: QuoteDraft, freight: Freight | None) -> tuple[Quote, list[QuoteLineRow]]:
    data, goods, config = draft.request, draft.goods, uow.config
    fx = list(goods.fx)
    freight_amount = None
    if freight is not None:
        freight_amount, freight_fx = _freight_in(data.currency, freight)
        if freight_fx is not None and all((r.base, r.quote) != (freight_fx.base, freight_fx.quote) for r in fx):
            fx.append(freight_fx)
    totals = quote_totals(draft.incoterm, goods.subtotal, freight_amount, config.insurance_rate, data.currency)
    now = utcnow()
    terms = data.model_dump(include=set(TradeTerms.model_fields)) | {"incoterm": draft.incoterm, "mode": draft.mode}
    quote = Quote(
        **terms,
        inquiry_id=data.inquiry_id,
        carrier=data.carrier,
        payment_terms=draft.payment_terms,
        id=new_id("quo"),
        subtotal=totals.subtotal,
        freight=totals.freight,
        insurance=totals.insurance,
        total=totals.total,
        fx=fx_applied(fx),
        valid_until=now + timedelta(days=config.quote_validity_days),
        created_at=now,
    )
    uow.session.add(quote)
    await uow.session.flush()
    lines = [
        QuoteLineRow(
            quote_id=quote.id,
            line_no=i,
            sku=line.item.sku,
            name=line.item.name,
            hs_code=line.item.hs_code,
            origin_country=line.item.origin_country,
            unit_weight_kg=line.item.unit_weight_kg,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            note=draft.notes[i] if draft.notes else None,
        )
        for i, line in enumerate(goods.lines)
    ]
    uow.session.add_all(lines)
    await uow.publish(views.quote_issued(quote, lines), correlation_id=quote.id)
    await inquiries.mark(uow, quote.inquiry_id, "quoted")
    await notify.quote_issued(uow, quote, lines)
    return quote, lines


async def quote_lines(session: AsyncSession, quote_ids: Sequence[str]) -> dict[str, list[QuoteLineRow]]:
    found: dict[str, list[QuoteLineRow]] = {qid: [] for qid in quote_ids}
    if quote_ids:
        rows = await session.exec(
            select(QuoteLineRow)
            .where(QuoteLineRow.quote_id.in_(list(quote_ids)))
            .order_by(QuoteLineRow.quote_id, QuoteLineRow.line_no)
        )
        for line in rows:
            found[line.quote_id].append(line)
    return found

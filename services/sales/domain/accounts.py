"""Accounts: opened by sales, or from a lead marketing qualified (once per lead)."""

from __future__ import annotations

import logging

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import PermanentEventError
from hanse.ids import new_id
from hanse.validators import language_tag
from services.marketing.contract import LeadQualified
from services.sales import views
from services.sales.config import UoW
from services.sales.domain.rules import currency_for_country, vat_id_check
from services.sales.models import Account, AccountCreate

log = logging.getLogger("services.sales")


async def open_account(uow: UoW, data: AccountCreate, *, lead_id: str | None = None) -> Account:
    vat_id, vat_valid = data.vat_id, False
    if vat_id is not None:
        vat_id, vat_valid = vat_id_check(vat_id, data.country)
    account = Account(
        **data.model_dump(exclude={"vat_id"}),
        id=new_id("acc"),
        vat_id=vat_id,
        vat_id_valid=vat_valid,
        lead_id=lead_id,
    )
    uow.session.add(account)
    await uow.session.flush()
    # An account from a lead stays in the lead's story (its correlation id), so marketing sees it.
    await uow.publish(views.account_created(account), correlation_id=uow.correlation_id or lead_id or account.id)
    return account


async def account_for_lead(session: AsyncSession, lead_id: str) -> Account | None:
    return (await session.exec(select(Account).where(Account.lead_id == lead_id))).one_or_none()


async def open_account_for_lead(uow: UoW, lead: LeadQualified) -> Account:
    """A qualified lead becomes an account, once per lead (redeliveries and repeats find it)."""
    existing = await account_for_lead(uow.session, lead.lead_id)
    if existing is not None:
        return existing
    language = lead.language
    try:
        language = language_tag(language) if language else None
    except ValueError:
        language = None  # a language we cannot use is no reason to lose the customer
    try:
        data = AccountCreate.model_validate(
            {
                "company": lead.company[:200],
                "country": lead.country,
                "email": lead.email,
                "currency": currency_for_country(lead.country.upper(), uow.settings.base_currency),
                "language": language,
                "payment_terms": "prepaid",
            }
        )
    except ValueError as exc:
        raise PermanentEventError(f"lead {lead.lead_id} cannot open an account: {exc}") from None
    account = await open_account(uow, data, lead_id=lead.lead_id)
    log.info("account %s opened for lead %s", account.id, lead.lead_id)
    return account

"""Accounts: opened by sales, or from a lead marketing qualified (once per lead)."""

from __future__ import annotations

import logging

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Invalid, NotFound, PermanentEventError
from hanse.ids import new_id
from hanse.validators import language_tag
from services.compliance.contract import ContractStatusChanged
from services.marketing.contract import LeadQualified
from services.sales import views
from services.sales.config import UoW
from services.sales.domain.rules import INCOTERMS, currency_for_country, vat_id_check
from services.sales.models import Account, AccountCreate, AccountUpdate, Contact, ContactCreate

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


async def update_account(uow: UoW, account_id: str, data: AccountUpdate) -> Account:
    """PATCH: only the fields given change; a VAT id is validated again; `sales.account.updated` names them."""
    account = (await uow.session.exec(select(Account).where(Account.id == account_id).with_for_update())).one_or_none()
    if account is None:
        raise NotFound(f"no account {account_id}", field="account_id")
    given = data.model_fields_set
    for required in ("email", "payment_terms"):
        if required in given and getattr(data, required) is None:
            raise Invalid(f"{required} cannot be removed", field=required)
    new = {name: getattr(data, name) for name in given}
    if "vat_id" in given:
        new["vat_id"], new["vat_id_valid"] = (
            vat_id_check(data.vat_id, account.country) if data.vat_id else (None, False)
        )
    changed = sorted(name for name, value in new.items() if getattr(account, name) != value)
    if not changed:
        return account
    for name in changed:
        setattr(account, name, new[name])
    uow.session.add(account)
    await uow.session.flush()
    await uow.publish(views.account_updated(account, changed), correlation_id=account.id)
    return account


async def add_contact(uow: UoW, account_id: str, data: ContactCreate) -> Contact:
    if await uow.session.get(Account, account_id) is None:
        raise NotFound(f"no account {account_id}", field="account_id")
    contact = Contact(**data.model_dump(), id=new_id("con"), account_id=account_id)
    uow.session.add(contact)
    await uow.session.flush()
    return contact


async def frame_changed(uow: UoW, change: ContractStatusChanged) -> None:
    """An active sales frame sets the account's quote defaults; terminated or expired removes them."""
    if change.party_type != "account" or change.kind != "sales_frame":
        return
    account = (
        await uow.session.exec(select(Account).where(Account.id == change.party_id).with_for_update())
    ).one_or_none()
    if account is None:
        log.warning("sales frame %s names account %s that sales does not know", change.contract_id, change.party_id)
        return
    if change.status == "active":
        term = change.terms.incoterm
        if term is not None and term.strip().upper() not in INCOTERMS:
            log.warning("sales frame %s: %r is no Incoterm; no default Incoterm", change.contract_id, term)
            term = None
        account.frame_contract_id = change.contract_id
        account.frame_incoterm = term.strip().upper() if term else None
        account.frame_payment_terms = change.terms.payment_terms
    elif account.frame_contract_id == change.contract_id:
        # Only the frame that set the defaults removes them (an old contract ending changes nothing).
        account.frame_contract_id = account.frame_incoterm = account.frame_payment_terms = None
    uow.session.add(account)

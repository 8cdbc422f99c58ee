"""Invoices: the list with finance's filters, one invoice with its lines and payments, its PDF, and
recording a bank transfer against it.

The PDF is fetched from finance with the user's token and handed to the browser as a download. A
payment is `POST /api/v1/finance/payments`; what finance refuses (another currency, more than is
open, an invoice already paid) is shown next to the field, and nothing is recorded.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request
from starlette.responses import Response

from web.core import (
    ConsoleRouter,
    NotAllowed,
    PageNotFound,
    Refused,
    Viewer,
    action,
    download,
    form_of,
    page,
)
from web.i18n import N_
from web.nav import api_roles, section

router = ConsoleRouter()

INVOICES_API = "/api/v1/finance/invoices"
PAYMENTS_API = "/api/v1/finance/payments"
SECTION = section("invoices", "/console/finance/invoices", N_("Invoices"), api=INVOICES_API)
# The role matrix: POST /api/v1/finance/payments is finance's (admin passes every check).
PAY_ROLES = ("finance",)
PAGE_SIZE = 25
ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
Filter = Annotated[str | None, Query(max_length=64)]

KINDS = {"proforma": N_("Proforma"), "commercial": N_("Commercial invoice"), "credit_note": N_("Credit note")}
STATUSES = {"issued": N_("Issued"), "paid": N_("Paid"), "void": N_("Void")}
METHODS = {
    "bank_transfer": N_("Bank transfer"),
    "letter_of_credit": N_("Letter of credit"),
    "card": N_("Card"),
    "paypal": "PayPal",
    "alipay": "Alipay",
    "stripe": "Stripe",
}
# Finance names the fields of a payment as the API body has them; the form's fields are these.
FORM_FIELDS = {
    "amount.amount": "amount",
    "amount": "amount",
    "amount.currency": "currency",
    "currency": "currency",
    "reference": "reference",
}


def _invoice_id(value: str) -> str:
    if not ID.fullmatch(value):
        raise PageNotFound(N_("Nothing was found here."))
    return value


def _overdue(invoice: dict[str, Any], today: str) -> bool:
    return invoice.get("status") == "issued" and invoice.get("kind") != "credit_note" and invoice["due_date"] < today


def _labels(viewer: Viewer) -> dict[str, Any]:
    text = viewer.text
    return {
        "kinds": {k: text(v) for k, v in KINDS.items()},
        "statuses": {k: text(v) for k, v in STATUSES.items()},
        "methods": {k: text(v) for k, v in METHODS.items()},
    }


@router.get(SECTION.path)
async def invoices(
    viewer: Annotated[Viewer, page(*SECTION.roles)],
    kind: Filter = None,
    status: Filter = None,
    order_id: Filter = None,
    account_id: Filter = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    # Finance checks the values (a wrong kind or status is its 422, shown as the filter page).
    listing = await viewer.get(
        INVOICES_API,
        kind=kind,
        status=status,
        order_id=order_id,
        account_id=account_id,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    today = datetime.now(viewer.formats.zone).date().isoformat()
    items = [{**invoice, "overdue": _overdue(invoice, today)} for invoice in listing["items"]]
    next_url = None
    if listing.get("next_cursor"):
        next_url = viewer.url_with(cursor=listing["next_cursor"])
    filters = {"kind": kind or "", "status": status or "", "order_id": order_id or "", "account_id": account_id or ""}
    return viewer.render(
        "finance/invoices.html",
        {"items": items, "next_url": next_url, "filters": filters, "filtered": any(filters.values())} | _labels(viewer),
        partial="finance/_invoices.html",
    )


PDF_ROLES = api_roles(INVOICES_API + "/{invoice_id}/pdf")


@router.get(SECTION.path + "/{invoice_id}.pdf")
async def invoice_pdf(invoice_id: str, viewer: Annotated[Viewer, page(*PDF_ROLES)]) -> Response:
    invoice_id = _invoice_id(invoice_id)
    invoice, document = await asyncio.gather(
        viewer.get(f"{INVOICES_API}/{invoice_id}"),
        viewer.call("GET", f"{INVOICES_API}/{invoice_id}/pdf", headers={"Accept": "application/pdf"}),
    )
    if document.status == 403:
        raise NotAllowed(N_("Your roles do not allow this."))
    if not document.ok or not document.headers.get("content-type", "").startswith("application/pdf"):
        raise PageNotFound(N_("Nothing was found here."), detail=str(document.problem.get("detail") or ""))
    return download(document.body, f"{invoice['number']}.pdf")


async def _invoice_page(
    viewer: Viewer,
    invoice_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    may_pay = viewer.allowed(PAY_ROLES)
    if viewer.allowed(api_roles(PAYMENTS_API)):
        invoice, payments = await asyncio.gather(
            viewer.get(f"{INVOICES_API}/{invoice_id}"),
            viewer.get(PAYMENTS_API, invoice_id=invoice_id, limit=100),
        )
        payment_items: list[dict[str, Any]] | None = payments["items"]
    else:
        invoice, payment_items = await viewer.get(f"{INVOICES_API}/{invoice_id}"), None
    today = datetime.now(viewer.formats.zone).date().isoformat()
    open_amount = invoice.get("open_amount") or {}
    payable = invoice["status"] == "issued" and invoice["kind"] != "credit_note" and not invoice.get("superseded_by_id")
    defaults = {"amount": str(open_amount.get("amount", "")), "currency": invoice["currency"], "reference": ""}
    return viewer.render(
        "finance/invoice.html",
        {
            "invoice": invoice,
            "overdue": _overdue(invoice, today),
            "payments": payment_items,
            "may_pay": may_pay and payable,
            "values": values if values is not None else defaults,
            "errors": errors or {},
            "problem": problem,
            **_labels(viewer),
        },
        status=status,
    )


@router.get(SECTION.path + "/{invoice_id}")
async def invoice(invoice_id: str, viewer: Annotated[Viewer, page(*SECTION.roles)]) -> Response:
    return await _invoice_page(viewer, _invoice_id(invoice_id))


def _decimal_text(value: str) -> str:
    """A German "1.234,50" is finance's "1234.50"; an English "1,234.50" too; anything else as typed."""
    value = value.replace(" ", "").replace("\u00a0", "")
    if "," in value and "." in value:
        if value.rfind(",") > value.rfind("."):
            return value.replace(".", "").replace(",", ".")
        return value.replace(",", "")
    return value.replace(",", ".")


@router.post(SECTION.path + "/{invoice_id}/payments")
async def record_payment(invoice_id: str, request: Request, viewer: Annotated[Viewer, action(*PAY_ROLES)]) -> Response:
    invoice_id = _invoice_id(invoice_id)
    form = await form_of(request)
    body = {
        "invoice_id": invoice_id,
        "method": "bank_transfer",
        "reference": form.get("reference", ""),
        "amount": {"amount": _decimal_text(form.get("amount", "")), "currency": form.get("currency", "").upper()},
    }
    try:
        await viewer.send("POST", PAYMENTS_API, json=body)
    except Refused as refused:
        errors: dict[str, str] = {}
        for name, message in refused.fields().items():
            if name in FORM_FIELDS:
                errors.setdefault(FORM_FIELDS[name], message)
        problem = None if errors else refused.detail
        return await _invoice_page(
            viewer, invoice_id, values=form, errors=errors, problem=problem, status=refused.answer.status
        )
    return viewer.redirect(f"{SECTION.path}/{invoice_id}", flash=N_("The payment was recorded."))

"""The document pack of a shipment: the kinds compliance requires, produced as PDFs on first request.

Which kinds an order needs comes from `compliance.documents.required.v1` (the latest list wins).
Packing list, certificate of origin (non-preferential) and export declaration data sheet are printed
from the order's customs lines; the commercial invoice from finance's `finance.invoice.issued.v1`
(kind commercial); the export licence sheet once `compliance.licence.recorded.v1` arrived. A PDF is
rendered the first time it is asked for and served as stored ever after (`uow.document`).
"""

from __future__ import annotations

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.documents import StoredDocument
from hanse.errors import Conflict, NotFound
from hanse.events import utcnow
from services.compliance.contract import DocumentsRequired, LicenceRecorded
from services.finance.contract import InvoiceIssued
from services.logistics import views
from services.logistics.config import UoW
from services.logistics.models import (
    CommercialInvoice,
    CustomsLine,
    DocumentPublic,
    ExportLicence,
    FulfilmentOrder,
    RequiredDocument,
    Shipment,
)

KINDS = ("commercial_invoice", "packing_list", "certificate_of_origin", "export_declaration", "export_licence")
TITLES = {
    "commercial_invoice": "commercial-invoice",
    "packing_list": "packing-list",
    "certificate_of_origin": "certificate-of-origin",
    "export_declaration": "export-declaration",
    "export_licence": "export-licence",
}
API = "/api/v1/logistics"


# -- what the events bring ----------------------------------------------------------------------------


async def record_required(uow: UoW, payload: DocumentsRequired) -> None:
    """The latest list compliance published for the order replaces the former one."""
    session = uow.session
    await session.exec(delete(RequiredDocument).where(col(RequiredDocument.order_id) == payload.order_id))
    seen: set[str] = set()
    for doc in payload.documents:
        if doc.kind not in seen:
            seen.add(doc.kind)
            session.add(RequiredDocument(order_id=payload.order_id, kind=doc.kind, reason=doc.reason[:500]))


async def record_invoice(uow: UoW, payload: InvoiceIssued) -> None:
    """Keep a commercial invoice to print it into the pack (proformas and credit notes are no customs papers)."""
    if payload.kind != "commercial":
        return
    if await uow.session.get(CommercialInvoice, payload.invoice_id) is not None:
        return
    uow.session.add(
        CommercialInvoice(
            invoice_id=payload.invoice_id,
            order_id=payload.order_id,
            number=payload.number,
            currency=payload.currency,
            subtotal=payload.subtotal.amount,
            tax=payload.tax.amount,
            duty=payload.duty.amount,
            total=payload.total.amount,
            vat_note=(payload.vat_note or None) and payload.vat_note[:500],
            issue_date=payload.issue_date,
            incoterm=payload.incoterm,
            named_place=payload.named_place and payload.named_place[:200],
            lines=[line.model_dump(mode="json") for line in payload.lines],
            received_at=utcnow(),
        )
    )


async def record_licence(uow: UoW, payload: LicenceRecorded) -> None:
    if await uow.session.get(ExportLicence, payload.licence_id) is not None:
        return
    uow.session.add(
        ExportLicence(
            licence_id=payload.licence_id,
            order_id=payload.order_id,
            number=payload.number[:100],
            authority=payload.authority[:200],
            valid_until=payload.valid_until,
        )
    )


# -- what exists ----------------------------------------------------------------------------------------


async def _invoice(session: AsyncSession, order_id: str) -> CommercialInvoice | None:
    query = (
        select(CommercialInvoice)
        .where(CommercialInvoice.order_id == order_id)
        .order_by(col(CommercialInvoice.received_at).desc())
    )
    return (await session.exec(query)).first()


async def _licence(session: AsyncSession, order_id: str) -> ExportLicence | None:
    query = (
        select(ExportLicence).where(ExportLicence.order_id == order_id).order_by(col(ExportLicence.valid_until).desc())
    )
    return (await session.exec(query)).first()


async def _customs_lines(session: AsyncSession, order_id: str) -> list[CustomsLine]:
    query = select(CustomsLine).where(CustomsLine.order_id == order_id).order_by(col(CustomsLine.sku))
    return list((await session.exec(query)).all())


async def missing_data(session: AsyncSession, order_id: str, kinds: list[str]) -> dict[str, str | None]:
    """Per kind: None when it can be produced now, else what is lacking."""
    out: dict[str, str | None] = {}
    has_lines = bool(await _customs_lines(session, order_id)) if kinds else False
    for kind in kinds:
        if kind == "commercial_invoice":
            found = await _invoice(session, order_id)
            out[kind] = None if found else "finance has not issued the commercial invoice yet"
        elif kind == "export_licence":
            found_licence = await _licence(session, order_id)
            out[kind] = None if found_licence else "no export licence is recorded for the order"
        else:
            out[kind] = None if has_lines else "the order's customs lines are unknown"
    return out


async def required(session: AsyncSession, order_id: str) -> list[RequiredDocument]:
    query = select(RequiredDocument).where(RequiredDocument.order_id == order_id).order_by(col(RequiredDocument.id))
    return list((await session.exec(query)).all())


def _key(shipment: Shipment, kind: str) -> str:
    return f"shipment:{shipment.id}:{kind}"


async def list_documents(uow: UoW, shipment_id: str) -> list[DocumentPublic]:
    shipment = await _shipment(uow.session, shipment_id)
    needed = await required(uow.session, shipment.order_id)
    missing = await missing_data(uow.session, shipment.order_id, [d.kind for d in needed])
    out = []
    for doc in needed:
        stored = await uow.stored_document(_key(shipment, doc.kind)) is not None
        out.append(
            DocumentPublic(
                kind=doc.kind,
                reason=doc.reason,
                url=f"{API}/shipments/{shipment.id}/documents/{doc.kind}",
                exists=stored or missing[doc.kind] is None,
                stored=stored,
                missing=None if stored else missing[doc.kind],
            )
        )
    return out


async def dispatch_refusal(session: AsyncSession, order: FulfilmentOrder | None, order_id: str) -> str | None:
    """Why the shipment may not leave now: the order is held, or a required document cannot be produced."""
    if order is not None and order.held:
        return f"the order is held by compliance ({order.held_reasons or 'no reason given'})"
    needed = [d.kind for d in await required(session, order_id)]
    missing = {kind: why for kind, why in (await missing_data(session, order_id, needed)).items() if why}
    if missing:
        return "required documents missing: " + "; ".join(f"{kind} ({why})" for kind, why in missing.items())
    return None


# -- producing one ----------------------------------------------------------------------------------------


async def _shipment(session: AsyncSession, shipment_id: str) -> Shipment:
    shipment = await session.get(Shipment, shipment_id)
    if shipment is None:
        raise NotFound(f"no shipment {shipment_id}", field="shipment_id")
    return shipment


async def produce(uow: UoW, shipment_id: str, kind: str) -> StoredDocument:
    """The stored PDF, or rendered now from what logistics holds (409 naming what is missing)."""
    session = uow.session
    if kind not in KINDS:
        raise NotFound(f"no document kind {kind}; kinds: {', '.join(KINDS)}", field="kind")
    shipment = await _shipment(session, shipment_id)
    key = _key(shipment, kind)
    existing = await uow.stored_document(key)
    if existing is not None:
        return existing
    why = (await missing_data(session, shipment.order_id, [kind]))[kind]
    if why is not None:
        raise Conflict(f"the {kind} cannot be produced: {why}", field="kind")
    order = await session.get(FulfilmentOrder, shipment.order_id)
    customs, packages, _ = views.customs_public(order, await _customs_lines(session, shipment.order_id), shipment.mode)
    context = {
        "kind": kind,
        "shipment": shipment,
        "carrier_name": views.carrier_name(shipment.carrier),
        "order": order,
        "customs": customs,
        "packages": packages,
        "seller_country": uow.settings.seller_country,
        "invoice": await _invoice(session, shipment.order_id),
        "licence": await _licence(session, shipment.order_id),
        "today": utcnow().date(),
    }
    return await uow.document(
        key,
        kind,
        language=order.language if order else None,
        context=context,
        filename=f"{TITLES[kind]}-{shipment.id}.pdf",
    )

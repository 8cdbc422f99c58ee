"""Invoice and credit note PDFs: rendered when first asked for, stored, the same file ever after."""

from __future__ import annotations

from hanse.uow import StoredDocument
from services.finance.config import UoW
from services.finance.models import Invoice


def document_key(invoice_id: str) -> str:
    return f"invoice:{invoice_id}"


async def invoice_pdf(uow: UoW, invoice: Invoice) -> StoredDocument:
    """The invoice's PDF in the buyer's language (the order's `language`, else en), seller from config."""
    credited = None
    if invoice.credited_invoice_id:
        original = await uow.session.get(Invoice, invoice.credited_invoice_id)
        credited = original.number if original else invoice.credited_invoice_id
    return await uow.document(
        document_key(invoice.id),
        "invoice",
        language=invoice.language,
        context={
            "invoice": invoice,
            "seller": uow.config.seller,
            "issue_date": invoice.issued_at.date(),
            "vat_percent": f"{(invoice.vat_rate * 100).normalize():f}",
            "credited": credited,
        },
        filename=f"{invoice.number}.pdf",
    )

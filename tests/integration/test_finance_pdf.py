"""Invoice PDFs: in the buyer's language, with the legal content, produced once and stored."""

from __future__ import annotations

import io

import pypdf
import pytest

from tests.integration.test_finance_api import assert_problem, cleared, new_order_id, pay, wait_invoice
from tests.integration.test_finance_commercial import booked
from tests.support.service import run_service


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


# HTTP and event behaviour, no locking: SQLite is enough (the ledger and invoice tests run on both).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
async def test_invoice_pdfs_carry_the_legal_content_and_are_stored_once(settings):
    async with run_service("finance", settings) as svc:
        h = svc.auth("sales")
        # Export to the US in USD (converted: the ECB rate is printed), DDP, commercial invoice.
        order_id = new_order_id()
        await svc.deliver(cleared(order_id, currency="USD", buyer="US", incoterm="DDP"))
        proforma = await wait_invoice(svc, order_id, kind="proforma")
        await pay(svc, proforma["id"], proforma["total"]["amount"], "USD")
        await svc.deliver(booked(order_id))
        inv = await wait_invoice(svc, order_id, kind="commercial")
        r = await svc.client.get(f"/api/v1/finance/invoices/{inv['id']}/pdf", headers=h)
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        text = text_of(r.content)
        for expected in (
            "Commercial invoice",
            inv["number"],
            "HS 847130",
            "DDP Destination",
            "Zero-rated export",
            "Hanse Trading GmbH",
            "DE123456788",
            "USD",
            f"1 USD = {inv['fx_rate']} EUR",
            inv["fx_rate_date"],
            "Import duty (DDP)",
        ):
            assert expected in text, (expected, text)
        again = await svc.client.get(f"/api/v1/finance/invoices/{inv['id']}/pdf", headers=h)
        assert again.content == r.content  # stored: the same file every time

        # A German buyer in French? The order's language decides; reverse charge names the VAT id.
        fr_id = new_order_id()
        event = cleared(fr_id, buyer="FR", vat_id="FR40303265045", vat_id_valid=True)
        event = event.model_copy(update={"order": event.order.model_copy(update={"language": "fr"})})
        await svc.deliver(event)
        pf = await wait_invoice(svc, fr_id, kind="proforma")
        text = text_of((await svc.client.get(f"/api/v1/finance/invoices/{pf['id']}/pdf", headers=h)).content)
        assert "Facture pro forma" in text and pf["number"] in text and "FR40303265045" in text
        assert "Reverse charge" in text

        # zh renders Chinese glyphs (the text comes back out of the PDF).
        zh_id = new_order_id()
        event = cleared(zh_id, buyer="CN")
        event = event.model_copy(update={"order": event.order.model_copy(update={"language": "zh"})})
        await svc.deliver(event)
        pf = await wait_invoice(svc, zh_id, kind="proforma")
        text = text_of((await svc.client.get(f"/api/v1/finance/invoices/{pf['id']}/pdf", headers=h)).content)
        assert "形式发票" in text and "HS 847130" in text

        assert_problem(await svc.client.get("/api/v1/finance/invoices/inv_nope/pdf", headers=h), 404, "invoice_id")
        r = await svc.client.get(f"/api/v1/finance/invoices/{inv['id']}/pdf", headers=svc.auth("logistics"))
        assert r.status_code == 403

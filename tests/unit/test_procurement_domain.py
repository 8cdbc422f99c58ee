"""Procurement's pure rules: screening outcome, life cycle, receipt and QC quantities, terms, reorder quantity."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from hanse.errors import Conflict, Invalid
from services.procurement.domain.rules import (
    LineState,
    check_can_cancel,
    check_can_inspect,
    check_can_send,
    check_inspection,
    check_receipt,
    due_date,
    format_number,
    reorder_quantity,
    should_close,
    status_after_receipt,
    status_after_screening,
    supplier_language,
)
from services.procurement.models import PriceIn, PurchaseOrderCreate


@pytest.mark.parametrize(
    ("current", "result", "expected"),
    [
        ("pending", "clear", "approved"),
        ("pending", "review", "pending"),
        ("pending", "blocked", "blocked"),
        ("approved", "blocked", "blocked"),  # re-screening after a list change
        ("approved", "review", "approved"),
        ("blocked", "clear", "approved"),  # an officer cleared the match
    ],
)
def test_screening_outcome_moves_the_supplier(current: str, result: str, expected: str):
    assert status_after_screening(current, result) == expected


@pytest.mark.parametrize(
    ("country", "language", "expected"),
    [
        ("DE", None, "de"),
        ("AT", None, "de"),
        ("FR", None, "fr"),
        ("MX", None, "es"),
        ("CN", None, "zh"),
        ("US", None, "en"),
        ("DE", "zh-Hans", "zh"),
        ("cn", None, "zh"),
    ],
)
def test_a_supplier_is_written_to_in_its_language_or_its_countrys(country, language, expected):
    assert supplier_language(country, language) == expected


def test_bills_fall_due_by_the_suppliers_net_days_and_numbers_are_zero_padded():
    assert due_date(date(2026, 11, 26), "net_60") == date(2027, 1, 25)
    assert due_date(date(2026, 11, 26), "prepaid") == date(2026, 11, 26)
    assert format_number("PO", 2026, 7) == "PO-2026-000007"


def test_only_a_priced_draft_goes_to_a_supplier_that_is_not_blocked():
    check_can_send("draft", "approved", [])
    with pytest.raises(Conflict) as blocked:
        check_can_send("draft", "blocked", [])
    assert blocked.value.field == "supplier_id"
    with pytest.raises(Conflict):
        check_can_send("sent", "approved", [])
    with pytest.raises(Conflict, match="BOLT-8"):
        check_can_send("draft", "approved", ["BOLT-8"])


def test_only_an_order_of_which_nothing_arrived_can_be_cancelled():
    check_can_cancel("draft", 0)
    check_can_cancel("sent", 0)
    for status, received in (("sent", 1), ("partially_received", 3), ("closed", 10), ("cancelled", 0)):
        with pytest.raises(Conflict):
            check_can_cancel(status, received)


def test_a_receipt_never_exceeds_what_is_outstanding():
    lines = {"A": LineState("A", 10, 4), "B": LineState("B", 5, 0)}
    check_receipt("partially_received", "approved", lines, {"A": 6, "B": 5})
    with pytest.raises(Invalid) as too_many:
        check_receipt("sent", "approved", lines, {"B": 1, "A": 7})
    assert too_many.value.field == "lines.1.quantity"
    with pytest.raises(Invalid) as unknown:
        check_receipt("sent", "approved", lines, {"C": 1})
    assert unknown.value.field == "lines.0.sku"
    with pytest.raises(Conflict):
        check_receipt("draft", "approved", lines, {"A": 1})
    with pytest.raises(Conflict):
        check_receipt("sent", "blocked", lines, {"A": 1})
    assert status_after_receipt([LineState("A", 10, 10), LineState("B", 5, 4)]) == "partially_received"
    assert status_after_receipt([LineState("A", 10, 10), LineState("B", 5, 5)]) == "received"


def test_qc_judges_a_receipt_once_and_never_for_a_blocked_supplier():
    check_can_inspect("pending", "approved")
    with pytest.raises(Conflict) as blocked:
        check_can_inspect("pending", "blocked")
    assert blocked.value.field == "supplier_id"
    with pytest.raises(Conflict) as again:
        check_can_inspect("done", "approved")
    assert again.value.field == "inspection_id"


def test_qc_accounts_for_every_received_unit_once():
    check_inspection({"A": 10, "B": 2}, [("A", 7, 3), ("B", 2, 0)])
    with pytest.raises(Invalid, match="more than") as more:
        check_inspection({"A": 10}, [("A", 8, 3)])
    assert more.value.field == "lines.0.accepted"
    with pytest.raises(Invalid) as fewer:
        check_inspection({"A": 10}, [("A", 8, 1)])
    assert fewer.value.field == "lines.0.rejected"
    with pytest.raises(Invalid) as missing:
        check_inspection({"A": 10, "B": 2}, [("A", 10, 0)])
    assert missing.value.field == "lines"
    with pytest.raises(Invalid):
        check_inspection({"A": 10}, [("A", 5, 0), ("A", 5, 0)])
    assert should_close("received", 0) and not should_close("received", 1) and not should_close("sent", 0)


def test_the_reorder_quantity_covers_the_rule_the_back_order_and_the_moq():
    assert reorder_quantity(15, 0, 1) == 15
    assert reorder_quantity(15, 25, 20) == 25
    assert reorder_quantity(15, 0, 40) == 40


def test_prices_below_zero_unknown_currencies_and_bad_incoterms_are_refused():
    assert PriceIn.model_validate({"unit_price": {"amount": "0", "currency": "EUR"}}).moq == 1
    for bad in (
        {"amount": "-1", "currency": "EUR"},
        {"amount": "1.005", "currency": "EUR"},
        {"amount": "1", "currency": "ABC"},
    ):
        with pytest.raises(ValidationError):
            PriceIn.model_validate({"unit_price": bad})
    order = {
        "supplier_id": "s",
        "warehouse": " ham ",
        "currency": "usd",
        "incoterm": "fob",
        "lines": [{"sku": "A", "quantity": 1}],
    }
    parsed = PurchaseOrderCreate.model_validate(order)
    assert parsed.currency == "USD" and parsed.incoterm == "FOB" and parsed.warehouse == "HAM"
    for bad in (
        {"currency": "XYZ"},
        {"incoterm": "FOO"},
        {"lines": []},
        {"lines": [{"sku": "A", "quantity": 1}] * 2},
        {"warehouse": "-X"},
    ):
        with pytest.raises(ValidationError):
            PurchaseOrderCreate.model_validate({**order, **bad})

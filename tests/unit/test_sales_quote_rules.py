"""Quote rules added with issue 15: an inquiry below the MOQ, and a carrier's mode."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hanse.errors import Invalid
from services.sales.domain.rules import CatalogueItem, answer_moq, carrier_and_mode, fully_returned


def item(sku: str, moq: int) -> CatalogueItem:
    return CatalogueItem(sku, sku, "841370", "DE", Decimal("10.00"), "EUR", Decimal("1"), moq=moq)


def test_an_inquiry_below_the_moq_is_quoted_at_the_moq_and_says_so():
    catalogue = {"A": item("A", 5), "B": item("B", 1)}
    lines, notes = answer_moq([("A", 2), ("B", 3), ("A", 7)], catalogue)
    assert lines == [("A", 5), ("B", 3), ("A", 7)]
    assert notes[0] == "A: 2 asked, quoted at the minimum order quantity of 5"
    assert notes[1:] == [None, None]


def test_a_carrier_sets_the_mode_and_refuses_another():
    assert carrier_and_mode("FCA", "dhl-express", None, "DE", "US") == "courier"
    assert carrier_and_mode("FOB", "maersk", "sea", "DE", "US") == "sea"
    assert carrier_and_mode("DAP", None, None, "DE", "FR") == "road"
    with pytest.raises(Invalid) as refused:
        carrier_and_mode("FCA", "maersk", "air", "DE", "US")
    assert refused.value.field == "carrier"
    with pytest.raises(Invalid) as sea_only:
        carrier_and_mode("CIF", "lufthansa-cargo", None, "DE", "US")
    assert sea_only.value.field == "mode"


def test_an_order_is_fully_returned_when_every_line_came_back():
    ordered = [("A", 10), ("B", 2), ("A", 5)]
    assert not fully_returned(ordered, [("A", 15), ("B", 1)])
    assert fully_returned(ordered, [("A", 9), ("B", 2), ("A", 6)])
    assert not fully_returned([], [("A", 1)])

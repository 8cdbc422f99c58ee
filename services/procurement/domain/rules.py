"""Procurement rules without I/O: supplier screening, the purchase order's life cycle, receipt and QC
quantities, payment terms, numbering and reorder quantities."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from hanse.errors import Conflict, Invalid

SERIES = {"purchase_order": "PO", "return_note": "RN"}

# A supplier's language when it names none: the main business language of its country.
COUNTRY_LANGUAGE = {
    **dict.fromkeys(("DE", "AT", "CH", "LI", "LU"), "de"),
    **dict.fromkeys(("FR", "BE", "MC", "SN", "CI", "MA", "TN", "DZ"), "fr"),
    **dict.fromkeys(
        (
            "ES",
            "MX",
            "AR",
            "CO",
            "CL",
            "PE",
            "VE",
            "EC",
            "GT",
            "CU",
            "BO",
            "DO",
            "HN",
            "PY",
            "SV",
            "NI",
            "CR",
            "PA",
            "UY",
        ),
        "es",
    ),
    **dict.fromkeys(("CN", "TW", "HK", "MO", "SG"), "zh"),
}

NET_DAYS = {"prepaid": 0, "net_15": 15, "net_30": 30, "net_45": 45, "net_60": 60, "net_90": 90}


def supplier_language(country: str, language: str | None) -> str:
    """The language we write to a supplier in: its own choice, else its country's, else English."""
    if language:
        return language.split("-")[0].lower()
    return COUNTRY_LANGUAGE.get(country.upper(), "en")


def status_after_screening(current: str, result: str) -> str:
    """clear → approved, blocked → blocked (also an approved one, on re-screening), review → unchanged.

    A later clear (an officer's decision, or a re-screening after the list changed) approves a
    blocked or pending supplier again.
    """
    if result == "clear":
        return "approved"
    if result == "blocked":
        return "blocked"
    return current


def due_date(accepted_on: date, payment_terms: str) -> date:
    """When a supplier bill falls due: the acceptance day plus the supplier's net days."""
    return accepted_on + timedelta(days=NET_DAYS.get(payment_terms, 30))


def format_number(series: str, year: int, sequence: int) -> str:
    return f"{series}-{year}-{sequence:06d}"


# -- the purchase order's life cycle --------------------------------------------------------------------


@dataclass(frozen=True)
class LineState:
    sku: str
    ordered: int
    received: int


def check_can_send(status: str, supplier_status: str, unpriced: Iterable[str]) -> None:
    if supplier_status == "blocked":
        raise Conflict("the supplier is blocked by compliance: no order may go to it", field="supplier_id")
    if status != "draft":
        raise Conflict(f"purchase order is {status}: only a draft can be sent", field="status")
    missing = sorted(unpriced)
    if missing:
        raise Conflict(f"no unit price for {', '.join(missing)}: set the supplier's price first", field="lines")


def check_receipt(
    status: str, supplier_status: str, lines: Mapping[str, LineState], receipt: Mapping[str, int]
) -> None:
    """Goods may arrive for a sent order, never more than what is still outstanding per SKU."""
    if supplier_status == "blocked":
        raise Conflict("the supplier is blocked by compliance: its goods are not received", field="supplier_id")
    if status not in ("sent", "partially_received"):
        raise Conflict(f"purchase order is {status}: goods are received against a sent order", field="status")
    for index, (sku, quantity) in enumerate(receipt.items()):
        line = lines.get(sku)
        if line is None:
            raise Invalid(f"sku {sku} is not on this purchase order", field=f"lines.{index}.sku")
        outstanding = line.ordered - line.received
        if quantity > outstanding:
            raise Invalid(
                f"{quantity} units of {sku} received but only {outstanding} outstanding "
                f"({line.ordered} ordered, {line.received} already received)",
                field=f"lines.{index}.quantity",
            )


def status_after_receipt(lines: Iterable[LineState]) -> str:
    return "received" if all(line.received >= line.ordered for line in lines) else "partially_received"


def check_can_inspect(status: str, supplier_status: str) -> None:
    """A blocked supplier's goods wait: accepting them would make stock and a bill payable to it."""
    if status != "pending":
        raise Conflict("this inspection already has its result", field="inspection_id")
    if supplier_status == "blocked":
        raise Conflict(
            "the supplier is blocked by compliance: its goods wait in QC until compliance clears it",
            field="supplier_id",
        )


def check_inspection(received: Mapping[str, int], result: list[tuple[str, int, int]]) -> None:
    """Every received unit is either accepted or rejected, once: never more than was received, none left over."""
    seen: set[str] = set()
    for index, (sku, accepted, rejected) in enumerate(result):
        if sku not in received:
            raise Invalid(f"sku {sku} is not in this receipt", field=f"lines.{index}.sku")
        if sku in seen:
            raise Invalid(f"sku {sku} appears twice", field=f"lines.{index}.sku")
        seen.add(sku)
        if accepted + rejected > received[sku]:
            raise Invalid(
                f"{accepted} accepted + {rejected} rejected is more than the {received[sku]} units of {sku} received",
                field=f"lines.{index}.accepted",
            )
        if accepted + rejected < received[sku]:
            raise Invalid(
                f"{received[sku]} units of {sku} were received: accepted + rejected must account for all of them",
                field=f"lines.{index}.rejected",
            )
    missing = sorted(set(received) - seen)
    if missing:
        raise Invalid(f"no result for {', '.join(missing)} of this receipt", field="lines")


def check_can_cancel(status: str, received: int) -> None:
    if status not in ("draft", "sent") or received > 0:
        raise Conflict(
            f"purchase order is {status}: only a draft or a sent order with nothing received can be cancelled",
            field="status",
        )


def should_close(status: str, pending_inspections: int) -> bool:
    """A fully received order closes once QC has judged every receipt."""
    return status == "received" and pending_inspections == 0


# -- reorder rules --------------------------------------------------------------------------------------


def below_minimum(available: int, min_available: int) -> bool:
    return available < min_available


def reorder_quantity(rule_quantity: int, shortfall: int, moq: int) -> int:
    """Order the rule's quantity, at least the back-ordered shortfall, and at least the supplier's MOQ."""
    return max(rule_quantity, shortfall, moq, 1)

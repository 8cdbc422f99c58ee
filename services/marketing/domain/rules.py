"""Marketing's pure rules: the lead life cycle and campaign figures (no I/O, unit-tested)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from hanse.errors import Invalid
from hanse.money import Money, convert, ecb_rate, round_money
from hanse.validators import check_minor_unit
from services.marketing.models import LeadStatus

ROAS_PLACES = Decimal("0.0001")


# -- money input -------------------------------------------------------------------------------------------


def check_amount(money: Money, field: str) -> None:
    """No finer than the currency's minor unit, else a 422 naming the field."""
    try:
        check_minor_unit(money.amount, money.currency)
    except ValueError as exc:
        raise Invalid(str(exc), field=field) from None


def check_fx_available(currency: str, base: str, field: str) -> None:
    """Spend is reported in the base currency, so the budget currency needs an ECB reference rate."""
    try:
        ecb_rate(currency, base)
    except ValueError:
        raise Invalid(f"no ECB reference rate for {currency}; campaigns are reported in {base}", field=field) from None


# -- lead life cycle (never moves backwards; converted is terminal) -----------------------------------------


def screening_transition(status: str, result: str) -> LeadStatus | None:
    """The status a screening result moves a lead to, or None when it changes nothing.

    Only a new lead is decided: the first final result (clear or blocked) wins, `review`
    waits for the officer's decision, and results arriving after a decision are ignored.
    """
    if status != "new":
        return None
    if result == "clear":
        return "qualified"
    if result == "blocked":
        return "disqualified"
    return None


def account_converts(status: str, current_account_id: str | None, account_id: str) -> bool:
    """An account opened from the lead converts it, from any status (even disqualified: it happened)."""
    if status == "converted":
        return False  # terminal: a second account for the same lead does not replace the first
    return current_account_id in (None, account_id)


def screening_reason(reasons: list[str], default: str = "blocked by compliance screening") -> str:
    return "; ".join(r for r in reasons if r) or default


# -- campaign figures ------------------------------------------------------------------------------------


def return_on_ad_spend(revenue: Decimal, spend: Decimal) -> Decimal | None:
    """ROAS = paid revenue / spend, both in the base currency; None when nothing was spent."""
    if spend <= 0:
        return None
    return (revenue / spend).quantize(ROAS_PLACES, rounding=ROUND_HALF_UP)


def cost_per_lead(spend: Decimal, leads: int, currency: str) -> Money | None:
    if leads <= 0:
        return None
    return Money(amount=round_money(spend / leads, currency), currency=currency)


def to_base(amount: Decimal, currency: str, base: str, on: date) -> Decimal:
    if currency == base:
        return amount
    converted, _ = convert(Money(amount=amount, currency=currency), base, on)
    return converted.amount

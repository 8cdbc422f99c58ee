"""Marketing's pure rules: the lead life cycle and campaign figures (no I/O, unit-tested)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

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


# -- signed tokens: confirmation and unsubscribe links -----------------------------------------------------


class TokenError(ValueError):
    """A token that is forged, mangled, of the wrong kind or expired; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def email_key(secret: str, email: str) -> str:
    """The keyed hash an address is known by on the suppression list (no address is stored there)."""
    return hmac.new(secret.encode(), b"address:" + email.strip().lower().encode(), hashlib.sha256).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), b"marketing-token:" + body.encode(), hashlib.sha256).digest())


def sign_token(secret: str, claims: dict[str, Any]) -> str:
    """`<base64url JSON claims>.<base64url HMAC-SHA256>`: the claims are readable, not forgeable."""
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_signature(secret, body)}"


def read_token(secret: str, token: str, purpose: str) -> dict[str, Any]:
    """The claims of a token this service signed for `purpose`, else TokenError."""
    body, dot, signature = token.partition(".")
    if not dot or not hmac.compare_digest(signature.encode(), _signature(secret, body).encode()):
        raise TokenError("forged")
    try:
        claims = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        raise TokenError("forged") from None
    if not isinstance(claims, dict) or claims.get("p") != purpose:
        raise TokenError("forged")
    return claims


def confirm_token(secret: str, subscriber_id: str, nonce: str, issued: datetime) -> str:
    return sign_token(secret, {"p": "confirm", "s": subscriber_id, "n": nonce, "t": int(issued.timestamp())})


def read_confirm_token(secret: str, token: str, now: datetime, valid_days: int) -> tuple[str, str]:
    """(subscriber id, nonce) of a genuine confirmation token not older than `valid_days`."""
    claims = read_token(secret, token, "confirm")
    issued = claims.get("t")
    if not isinstance(issued, int) or not isinstance(claims.get("s"), str) or not isinstance(claims.get("n"), str):
        raise TokenError("forged")
    if now - datetime.fromtimestamp(issued, UTC) > timedelta(days=valid_days):
        raise TokenError("expired")
    return claims["s"], claims["n"]


def unsubscribe_token(secret: str, key: str) -> str:
    """Never expires (a link in an old mail must still work); names the address only by its key."""
    return sign_token(secret, {"p": "unsubscribe", "k": key})


def read_unsubscribe_token(secret: str, token: str) -> str:
    key = read_token(secret, token, "unsubscribe").get("k")
    if not isinstance(key, str) or len(key) != 64:
        raise TokenError("forged")
    return key


# -- localized marketing mail --------------------------------------------------------------------------

FALLBACK_LANGUAGE = "en"


def text_language(available: Iterable[str], wanted: str | None) -> str | None:
    """Which of a newsletter's languages a reader gets: theirs, its primary tag, else en, else none."""
    available = set(available)
    if wanted:
        for candidate in (wanted, wanted.split("-")[0].lower()):
            if candidate in available:
                return candidate
    return FALLBACK_LANGUAGE if FALLBACK_LANGUAGE in available else None


def uncovered_languages(available: Iterable[str], readers: Iterable[str | None]) -> list[str]:
    """Reader languages a text cannot serve (neither the language nor en is there)."""
    available = set(available)
    return sorted({r or FALLBACK_LANGUAGE for r in readers if text_language(available, r) is None})


def nurture_due(qualified_at: datetime, after_days: int) -> datetime:
    return qualified_at + timedelta(days=after_days)


# -- lead scoring: a transparent rules model -------------------------------------------------------------

HOT_LEAD = 70  # from this score on, marketing.lead.scored.v1 tells sales to call first
BASE_SCORE = 10
FREE_MAIL = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.de", "yahoo.fr", "hotmail.com", "hotmail.de",
        "outlook.com", "live.com", "msn.com", "aol.com", "icloud.com", "me.com", "gmx.de", "gmx.net",
        "gmx.com", "web.de", "t-online.de", "freenet.de", "mail.ru", "yandex.ru", "yandex.com",
        "qq.com", "163.com", "126.com", "sina.com", "protonmail.com", "proton.me", "orange.fr",
        "free.fr", "laposte.net", "libero.it", "wp.pl", "mail.com", "zoho.com",
    }
)  # fmt: skip
# Core export markets: the EU/EEA, the UK, Switzerland and the large OECD buyers.
CORE_MARKETS = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE "
    "NO IS LI CH GB US CA JP KR AU NZ SG".split()
)
# Destinations under broad embargoes: a lead from there rarely becomes a legal order.
EMBARGO_RISK = frozenset("IR KP SY CU RU BY".split())
CHANNEL_POINTS = {"trade_show": 15, "email": 10, "ppc": 10, "seo": 10, "marketplace": 5, "social": 5}
INTENT_WORDS = (
    "quote", "quotation", "rfq", "price", "pricing", "order", "purchase", "buy", "offer", "tender",
    "angebot", "preis", "bestellen", "bestellung", "kaufen", "anfrage",
    "devis", "prix", "commande", "acheter",
    "cotización", "cotizacion", "precio", "pedido", "comprar", "presupuesto",
    "报价", "价格", "订单", "采购", "询价",
)  # fmt: skip
_QUANTITY = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:[.,' ]\d{3})+|\d+)(?![\w.,]\d)\s*"
    r"(pcs|pc|pieces|units|sets|stück|stk|pièces|unités|unidades|件|个|台)?",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+", re.UNICODE)


def largest_quantity(message: str | None) -> int | None:
    """The largest whole number in the message (a quantity asked for), ignoring years and tiny numbers."""
    best = None
    for match in _QUANTITY.finditer(message or ""):
        digits = re.sub(r"\D", "", match.group(1))
        if len(digits) > 9:
            continue
        value = int(digits)
        if 1900 <= value <= 2100 and not match.group(2):
            continue  # a year, not a quantity
        best = value if best is None else max(best, value)
    return best


def intent_words(message: str | None) -> list[str]:
    text = (message or "").lower()
    words = set(_WORD.findall(text))
    return [w for w in INTENT_WORDS if (w in words if w.isascii() else w in text)]


def score_lead(
    *, email: str, country: str, message: str | None, channel: str | None, consent_marketing: bool
) -> tuple[int, list[str]]:
    """A 0-100 score and the reasons it is made of, each reason naming its points."""
    points = BASE_SCORE
    reasons = [f"+{BASE_SCORE} base"]

    def add(value: int, why: str) -> None:
        nonlocal points
        points += value
        reasons.append(f"{value:+d} {why}")

    domain = email.rpartition("@")[2].lower()
    if domain in FREE_MAIL:
        add(0, f"free-mail address ({domain})")
    else:
        add(20, f"business email domain ({domain})")
    if country in EMBARGO_RISK:
        add(-20, f"country {country} under embargo risk")
    elif country in CORE_MARKETS:
        add(15, f"core market {country}")
    else:
        add(5, f"export market {country}")
    quantity = largest_quantity(message)
    if quantity is not None and quantity >= 1000:
        add(25, f"large quantity ({quantity}) in the message")
    elif quantity is not None and quantity >= 10:
        add(15, f"quantity ({quantity}) in the message")
    found = intent_words(message)
    if found:
        add(20, "buying intent: " + ", ".join(found[:3]))
    if channel in CHANNEL_POINTS:
        add(CHANNEL_POINTS[channel], f"channel {channel}")
    if consent_marketing:
        add(10, "marketing consent given")
    return max(0, min(100, points)), reasons

"""Payment providers' webhook signatures (Stripe, PayPal, Alipay), verified offline, and their dev keys.

Each verifier takes the raw request and answers the provider's delivery as a `Delivery`, or
raises `BadSignature`. No call goes out: PayPal's certificate and Alipay's public key are files
configured in advance (HANSE_PAYPAL_CERT_FILE, HANSE_ALIPAY_PUBLIC_KEY_FILE).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import stripe
from babel.numbers import get_currency_precision
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from hanse.money import is_currency


class BadSignature(Exception):
    """The delivery is not signed by the provider (or is not a delivery at all)."""


@dataclass(frozen=True)
class Delivery:
    """What a provider told us: its delivery id and, for a payment, the invoice, amount and currency."""

    provider: str
    delivery_id: str
    kind: str  # the provider's event type
    invoice_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def is_payment(self) -> bool:
        return self.invoice_id is not None or self.amount is not None


def _decimal(value: Any) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def _currency(value: Any) -> str | None:
    code = str(value or "").upper()
    return code if len(code) == 3 and is_currency(code) else None


# -- Stripe ------------------------------------------------------------------------------------------


def verify_stripe(body: bytes, signature: str | None, secret: str) -> Delivery:
    """`Stripe-Signature` checked by Stripe's own library (HMAC-SHA256, 5-minute tolerance)."""
    if not signature:
        raise BadSignature("no Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(body.decode("utf-8"), signature, secret)
    except Exception as exc:  # the library's own errors and anything an odd header makes it raise
        raise BadSignature(f"Stripe signature: {exc}") from None
    data = event.to_dict() if hasattr(event, "to_dict") else dict(event)
    if not isinstance(data, dict):
        raise BadSignature("Stripe body is not an event")
    kind = str(data.get("type", ""))
    delivery = Delivery("stripe", str(data.get("id", "")), kind, payload=data)
    if kind != "payment_intent.succeeded":
        return delivery
    obj = (data.get("data") or {}).get("object") or {}
    currency = _currency(obj.get("currency"))
    minor = obj.get("amount_received")
    amount = None
    if currency and isinstance(minor, int) and not isinstance(minor, bool):
        # Stripe sends minor units (cents); zero-decimal currencies (JPY) are whole units.
        amount = Decimal(minor).scaleb(-get_currency_precision(currency))
    invoice_id = ((obj.get("metadata") or {}).get("invoice_id")) or None
    return Delivery("stripe", delivery.delivery_id, kind, str(invoice_id) if invoice_id else "", amount, currency, data)


# -- PayPal ------------------------------------------------------------------------------------------

PAYPAL_HEADERS = ("paypal-transmission-id", "paypal-transmission-time", "paypal-transmission-sig")


def paypal_message(transmission_id: str, transmission_time: str, webhook_id: str, body: bytes) -> bytes:
    """What PayPal signs: `transmission_id|transmission_time|webhook_id|crc32(body)` (decimal)."""
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(body)}".encode()


def verify_paypal(body: bytes, headers: Mapping[str, str], webhook_id: str, cert_pem: bytes) -> Delivery:
    """The transmission signature (SHA256withRSA) against the configured certificate; no call out."""
    values = [headers.get(name) for name in PAYPAL_HEADERS]
    if not all(values):
        raise BadSignature("PayPal transmission headers missing")
    transmission_id, transmission_time, sig = (str(v) for v in values)
    algo = headers.get("paypal-auth-algo", "SHA256withRSA")
    if algo.upper() != "SHA256WITHRSA":
        raise BadSignature(f"unsupported PayPal auth algorithm {algo}")
    try:
        signature = base64.b64decode(sig, validate=True)
        key = x509.load_pem_x509_certificate(cert_pem).public_key()
        message = paypal_message(transmission_id, transmission_time, webhook_id, body)
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg,union-attr]
        event = json.loads(body)
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise BadSignature(f"PayPal signature: {exc or 'invalid'}") from None
    if not isinstance(event, dict):
        raise BadSignature("PayPal body is not an event")
    kind = str(event.get("event_type", ""))
    delivery_id = str(event.get("id") or transmission_id)
    if kind not in ("PAYMENT.CAPTURE.COMPLETED", "CHECKOUT.ORDER.COMPLETED"):
        return Delivery("paypal", delivery_id, kind, payload=event)
    resource = event.get("resource") or {}
    amount = resource.get("amount") or {}
    invoice_id = resource.get("invoice_id") or resource.get("custom_id") or ""
    return Delivery(
        "paypal",
        delivery_id,
        kind,
        str(invoice_id),
        _decimal(amount.get("value")),
        _currency(amount.get("currency_code")),
        event,
    )


# -- Alipay ------------------------------------------------------------------------------------------


def alipay_content(params: Mapping[str, str]) -> bytes:
    """What Alipay signs: the parameters but `sign` and `sign_type`, non-empty, sorted, `k=v&...`."""
    items = sorted((k, v) for k, v in params.items() if k not in ("sign", "sign_type") and v != "")
    return "&".join(f"{k}={v}" for k, v in items).encode()


def verify_alipay(body: bytes, public_key_pem: bytes) -> Delivery:
    """An asynchronous notification (form-encoded), RSA2 = SHA256withRSA with Alipay's public key."""
    try:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError):
        raise BadSignature("Alipay notification is not form-encoded") from None
    if params.get("sign_type", "RSA2") != "RSA2" or not params.get("sign"):
        raise BadSignature("Alipay notification not signed with RSA2")
    try:
        key = serialization.load_pem_public_key(public_key_pem)
        signature = base64.b64decode(params["sign"], validate=True)
        key.verify(signature, alipay_content(params), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg,union-attr]
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise BadSignature(f"Alipay signature: {exc or 'invalid'}") from None
    kind = params.get("trade_status", "")
    delivery_id = params.get("notify_id") or params.get("trade_no") or ""
    if kind not in ("TRADE_SUCCESS", "TRADE_FINISHED"):
        return Delivery("alipay", delivery_id, kind, payload=params)
    currency = _currency(params.get("trans_currency") or params.get("currency") or "CNY")
    amount = _decimal(params.get("trans_amount") or params.get("total_amount"))
    return Delivery("alipay", delivery_id, kind, params.get("out_trade_no", ""), amount, currency, params)


# -- keys and secrets: configured, or generated once per data dir in dev -------------------------------


def _write_once(path: Path, data: bytes) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("xb") as handle:  # exclusive: two processes starting at once write one file
            handle.write(data)
        path.chmod(0o600)
    except FileExistsError:
        pass
    return path.read_bytes()


def _rsa_key(path: Path) -> rsa.RSAPrivateKey:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = serialization.load_pem_private_key(_write_once(path, pem), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def self_signed_cert(key: rsa.RSAPrivateKey, name: str) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def dev_stripe_secret(data_dir: Path) -> str:
    return _write_once(data_dir / "stripe-webhook-secret", f"whsec_{secrets.token_hex(24)}".encode()).decode()


def dev_paypal(data_dir: Path) -> tuple[str, bytes]:
    """(webhook id, certificate PEM) for dev; the private key beside it signs test deliveries."""
    webhook_id = _write_once(data_dir / "paypal-webhook-id", f"WH-DEV-{secrets.token_hex(8).upper()}".encode()).decode()
    key = _rsa_key(data_dir / "paypal-signing-key.pem")
    return webhook_id, _write_once(data_dir / "paypal-cert.pem", self_signed_cert(key, "paypal-dev"))


def dev_alipay_public_key(data_dir: Path) -> bytes:
    key = _rsa_key(data_dir / "alipay-signing-key.pem")
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _write_once(data_dir / "alipay-public-key.pem", pem)

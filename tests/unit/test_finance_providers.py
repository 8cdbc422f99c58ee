"""Provider signature checks, offline: Alipay RSA2 content and key, PayPal transmission, Stripe header."""

from __future__ import annotations

import base64
import zlib
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from services.finance.domain import providers

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign(message: bytes) -> str:
    return base64.b64encode(KEY.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def test_alipay_signs_the_sorted_nonempty_params_without_sign_and_sign_type():
    params = {"b": "2", "a": "1", "empty": "", "sign_type": "RSA2", "sign": "x"}
    assert providers.alipay_content(params) == b"a=1&b=2"


def test_alipay_notification_verifies_and_a_changed_amount_does_not():
    params = {"notify_id": "n1", "out_trade_no": "inv_1", "trade_status": "TRADE_SUCCESS", "total_amount": "88.00"}
    params |= {"currency": "EUR", "sign_type": "RSA2"}
    params["sign"] = sign(providers.alipay_content(params))
    delivery = providers.verify_alipay(urlencode(params).encode(), PUBLIC)
    assert (delivery.invoice_id, delivery.amount, delivery.currency) == ("inv_1", Decimal("88.00"), "EUR")
    with pytest.raises(providers.BadSignature):
        providers.verify_alipay(urlencode({**params, "total_amount": "8.00"}).encode(), PUBLIC)
    with pytest.raises(providers.BadSignature):
        providers.verify_alipay(b"\xff\xfe", PUBLIC)


def test_paypal_signs_id_time_webhook_and_the_crc32_of_the_body():
    body = b'{"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED"}'
    assert providers.paypal_message("T1", "2026-01-01T00:00:00Z", "WH", body) == (
        f"T1|2026-01-01T00:00:00Z|WH|{zlib.crc32(body)}".encode()
    )
    cert = providers.self_signed_cert(KEY, "test")
    headers = {
        "paypal-transmission-id": "T1",
        "paypal-transmission-time": "2026-01-01T00:00:00Z",
        "paypal-transmission-sig": sign(providers.paypal_message("T1", "2026-01-01T00:00:00Z", "WH", body)),
    }
    assert providers.verify_paypal(body, headers, "WH", cert).delivery_id == "WH-1"
    with pytest.raises(providers.BadSignature):
        providers.verify_paypal(body, headers, "WH-OTHER", cert)  # signed for another webhook


def test_stripe_refuses_a_missing_or_malformed_header():
    for header in (None, "", "garbage", "t=1,v1=abc"):
        with pytest.raises(providers.BadSignature):
            providers.verify_stripe(b"{}", header, "whsec_x")

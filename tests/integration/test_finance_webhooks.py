"""Provider webhooks: real-shaped payloads signed with keys made here; bad signatures change nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import zlib
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from services.finance.domain.providers import alipay_content, self_signed_cert
from tests.integration.test_finance_api import assert_problem, cleared, new_order_id, wait_invoice
from tests.support.service import run_service

API = "/api/v1/finance"
SECRET = "whsec_test_0123456789abcdef"
WEBHOOK_ID = "WH-TEST-1"


def stripe_signed(event: dict, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    ts = int(time.time())
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={ts},v1={mac}", "Content-Type": "application/json"}


def payment_intent(event_id: str, invoice_id: str, minor: int, currency: str = "eur") -> dict:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "type": "payment_intent.succeeded",
        "livemode": False,
        "data": {
            "object": {
                "id": f"pi_{event_id}",
                "object": "payment_intent",
                "amount": minor,
                "amount_received": minor,
                "currency": currency,
                "status": "succeeded",
                "metadata": {"invoice_id": invoice_id},
            }
        },
    }


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


# HTTP and event behaviour, no locking: SQLite is enough (the ledger and invoice tests run on both).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
async def test_provider_webhooks_pay_once_and_refuse_bad_signatures(settings, tmp_path, monkeypatch):
    paypal_key, alipay_key = rsa_key(), rsa_key()
    cert = tmp_path / "paypal.pem"
    cert.write_bytes(self_signed_cert(paypal_key, "paypal-test"))
    alipay_pub = tmp_path / "alipay.pem"
    alipay_pub.write_bytes(
        alipay_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    monkeypatch.setenv("HANSE_STRIPE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("HANSE_PAYPAL_WEBHOOK_ID", WEBHOOK_ID)
    monkeypatch.setenv("HANSE_PAYPAL_CERT_FILE", str(cert))
    monkeypatch.setenv("HANSE_ALIPAY_PUBLIC_KEY_FILE", str(alipay_pub))
    async with run_service("finance", settings) as svc:
        h = svc.auth("finance")
        ids = [new_order_id() for _ in range(4)]
        for order_id in ids:
            await svc.deliver(cleared(order_id))  # 1249.50 EUR each
        invoices = [await wait_invoice(svc, order_id, kind="proforma") for order_id in ids]

        async def payments_of(invoice_id: str) -> list[dict]:
            r = await svc.client.get(f"{API}/payments", params={"invoice_id": invoice_id}, headers=h)
            return r.json()["items"]

        # Stripe: a tampered body (amount changed after signing), a wrong secret, no header: 400.
        body, headers = stripe_signed(payment_intent("evt_1", invoices[0]["id"], 124950))
        tampered = body.replace(b"124950", b"100")
        assert_problem(await svc.client.post(f"{API}/webhooks/stripe", content=tampered, headers=headers), 400)
        _, wrong = stripe_signed(payment_intent("evt_1", invoices[0]["id"], 124950), "whsec_other")
        assert_problem(await svc.client.post(f"{API}/webhooks/stripe", content=body, headers=wrong), 400)
        r = await svc.client.post(f"{API}/webhooks/stripe", content=body)
        assert_problem(r, 400, "Stripe-Signature")
        assert await payments_of(invoices[0]["id"]) == []
        assert (await svc.client.get(f"{API}/provider-events", headers=h)).json()["items"] == []

        # The genuine delivery pays the invoice; delivered twice, it pays once.
        for _ in range(2):
            r = await svc.client.post(f"{API}/webhooks/stripe", content=body, headers=headers)
            assert r.status_code == 200 and r.json()["status"] == "applied", r.text
        [payment] = await payments_of(invoices[0]["id"])
        assert payment["method"] == "stripe" and payment["provider"] == "stripe"
        assert payment["amount"] == {"amount": "1249.50", "currency": "EUR"}
        assert (await svc.client.get(f"{API}/invoices/{invoices[0]['id']}", headers=h)).json()["status"] == "paid"

        # A wrong amount and a wrong currency are kept for review, not applied.
        body, headers = stripe_signed(payment_intent("evt_2", invoices[1]["id"], 100000))
        assert (await svc.client.post(f"{API}/webhooks/stripe", content=body, headers=headers)).json()[
            "status"
        ] == "review"
        body, headers = stripe_signed(payment_intent("evt_3", invoices[1]["id"], 124950, "usd"))
        assert (await svc.client.post(f"{API}/webhooks/stripe", content=body, headers=headers)).json()[
            "status"
        ] == "review"
        review = (await svc.client.get(f"{API}/provider-events", params={"status": "review"}, headers=h)).json()[
            "items"
        ]
        assert {(e["delivery_id"], e["amount"]["amount"], e["amount"]["currency"]) for e in review} == {
            ("evt_2", "1000.00", "EUR"),
            ("evt_3", "1249.50", "USD"),
        }
        assert all(e["invoice_id"] == invoices[1]["id"] and e["reason"] for e in review)
        assert await payments_of(invoices[1]["id"]) == []

        # PayPal: transmission signature over id|time|webhook id|crc32(body) with the configured cert.
        event = {
            "id": "WH-EVT-1",
            "event_type": "PAYMENT.CAPTURE.COMPLETED",
            "resource": {
                "id": "CAP-1",
                "invoice_id": invoices[2]["id"],
                "amount": {"currency_code": "EUR", "value": "1249.50"},
            },
        }
        body = json.dumps(event).encode()
        when = "2026-11-26T10:00:00Z"
        message = f"TX-1|{when}|{WEBHOOK_ID}|{zlib.crc32(body)}".encode()
        headers = {
            "PAYPAL-TRANSMISSION-ID": "TX-1",
            "PAYPAL-TRANSMISSION-TIME": when,
            "PAYPAL-TRANSMISSION-SIG": sign(paypal_key, message),
            "PAYPAL-CERT-URL": "https://api.paypal.com/v1/notifications/certs/CERT-360caa42",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "Content-Type": "application/json",
        }
        forged = {**headers, "PAYPAL-TRANSMISSION-SIG": sign(rsa_key(), message)}
        assert_problem(await svc.client.post(f"{API}/webhooks/paypal", content=body, headers=forged), 400)
        assert await payments_of(invoices[2]["id"]) == []
        r = await svc.client.post(f"{API}/webhooks/paypal", content=body, headers=headers)
        assert r.status_code == 200 and r.json()["status"] == "applied", r.text
        assert [p["method"] for p in await payments_of(invoices[2]["id"])] == ["paypal"]

        # Alipay: RSA2 over the sorted k=v&... without sign and sign_type, form-encoded.
        params = {
            "notify_id": "ntf-1",
            "notify_type": "trade_status_sync",
            "out_trade_no": invoices[3]["id"],
            "trade_no": "2026112622001",
            "trade_status": "TRADE_SUCCESS",
            "total_amount": "1249.50",
            "currency": "EUR",
            "app_id": "2021000000000000",
            "sign_type": "RSA2",
        }
        params["sign"] = sign(alipay_key, alipay_content(params))
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        bad = {**params, "total_amount": "1.00"}
        assert_problem(
            await svc.client.post(f"{API}/webhooks/alipay", content=urlencode(bad), headers=form), 400, "sign"
        )
        assert await payments_of(invoices[3]["id"]) == []
        r = await svc.client.post(f"{API}/webhooks/alipay", content=urlencode(params), headers=form)
        assert r.status_code == 200 and r.text == "success"
        assert [p["method"] for p in await payments_of(invoices[3]["id"])] == ["alipay"]

        tb = (await svc.client.get(f"{API}/ledger/trial-balance", headers=h)).json()
        bank = next(a for a in tb["accounts"] if a["account"] == "1200")
        assert bank["balance"] == "3748.50"  # three invoices paid, once each


@SQLITE_ONLY
async def test_webhooks_are_rate_limited_per_client(settings, monkeypatch):
    monkeypatch.setenv("HANSE_STRIPE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("HANSE_FINANCE_WEBHOOK_RATE_LIMIT", "2/minute")
    async with run_service("finance", settings) as svc:
        for _ in range(2):
            assert_problem(await svc.client.post(f"{API}/webhooks/stripe", content=b"{}"), 400, "Stripe-Signature")
        r = await svc.client.post(f"{API}/webhooks/stripe", content=b"{}")
        assert_problem(r, 429)
        assert int(r.headers["Retry-After"]) > 0

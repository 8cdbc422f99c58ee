"""Sales' settings: the platform's HANSE_BEHIND_GATEWAY reaches the public inquiry form's rate limit."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.sales.config import SalesConfig


def test_the_inquiry_form_trusts_forwarded_addresses_only_behind_the_gateway(monkeypatch):
    monkeypatch.delenv("HANSE_BEHIND_GATEWAY", raising=False)
    monkeypatch.delenv("HANSE_SALES_BEHIND_GATEWAY", raising=False)
    assert SalesConfig().behind_gateway is False
    monkeypatch.setenv("HANSE_BEHIND_GATEWAY", "true")  # what make dev, compose and kustomize set
    assert SalesConfig().behind_gateway is True
    assert SalesConfig(behind_gateway=False).behind_gateway is False


def test_a_rate_limit_it_cannot_parse_fails_at_start(monkeypatch):
    monkeypatch.setenv("HANSE_SALES_INQUIRY_RATE_LIMIT", "lots")
    with pytest.raises(ValidationError):
        SalesConfig()

"""Which addresses partner webhooks may be delivered to, and which event types a subscription matches."""

from __future__ import annotations

import ipaddress

import pytest

from gateway.events import type_matches
from gateway.webhooks import TargetPolicy, classify, parse_target
from hanse.errors import Invalid

PROD = TargetPolicy.for_env("prod", [])
DEV = TargetPolicy.for_env("dev", [])


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.7", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata service
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
        ("::ffff:127.0.0.1", "loopback"),
        ("2002:0a00:0001::1", "private"),  # 6to4 wrapping 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),  # Teredo: client 10.0.0.1
    ],
)
def test_non_public_addresses_are_refused_in_production(address, reason):
    assert PROD.refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "1.1.1.1"])
def test_public_addresses_are_allowed(address):
    assert PROD.refusal(ipaddress.ip_address(address)) is None
    assert DEV.refusal(ipaddress.ip_address(address)) is None


def test_dev_allows_loopback_only_and_an_operator_can_allow_a_network():
    assert DEV.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert DEV.refusal(ipaddress.ip_address("::1")) is None
    assert DEV.refusal(ipaddress.ip_address("10.0.0.1")) == "private"
    assert DEV.refusal(ipaddress.ip_address("169.254.169.254")) == "link-local"
    allowed = TargetPolicy.for_env("prod", ["10.20.0.0/16"])
    assert allowed.refusal(ipaddress.ip_address("10.20.3.4")) is None
    assert allowed.refusal(ipaddress.ip_address("10.21.3.4")) == "private"


def test_only_plain_http_urls_are_targets():
    assert parse_target("https://hooks.example.com/in") == ("hooks.example.com", 443)
    assert parse_target("http://hooks.example.com:8080/in") == ("hooks.example.com", 8080)
    for bad in ("ftp://x.example/in", "https://u:p@x.example/in", "http://x.example:99999/", "//x.example", "http://"):
        with pytest.raises(Invalid) as caught:
            parse_target(bad)
        assert caught.value.field == "url"


def test_which_answers_are_retried():
    assert classify(200) == (True, False) and classify(204) == (True, False)
    for retried in (500, 502, 503, 504, 408, 429):
        assert classify(retried) == (False, True)
    for final in (301, 400, 401, 403, 404, 410, 422):
        assert classify(final) == (False, False)


def test_subscription_filters_match_exact_types_prefixes_and_everything():
    assert type_matches("sales.order.placed.v1", ["sales.order."])
    assert type_matches("sales.order.placed.v1", ["sales.order.placed.v1"])
    assert type_matches("sales.order.placed.v1", ["*"])
    assert not type_matches("sales.order.placed.v1", ["sales.order"])  # no dot: an exact type
    assert not type_matches("sales.order.placed.v1", ["sales.order.placed.v2", "finance."])

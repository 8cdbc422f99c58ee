"""Role matrix lookups, rate limiter arithmetic and the identity helpers, without I/O."""

from __future__ import annotations

import base64
import time

import pytest

from gateway.identity import basic_credentials, check_roles, hash_secret, needs_rehash, verify_secret
from gateway.proxy import TokenCache, bearer
from gateway.ratelimit import RateLimitSettings
from gateway.roles import AUTHENTICATED, PUBLIC, RoleMatrix
from hanse.auth import AuthError, issue_token
from hanse.errors import Invalid
from hanse.ratelimit import RateLimiter, SlidingWindow
from hanse.settings import Settings

MATRIX = RoleMatrix(
    {
        "sales": (
            ("GET", "/api/v1/sales/orders", ("sales", "partner")),
            ("GET", "/api/v1/sales/orders/{order_id}", ("sales",)),
            ("POST", "/api/v1/sales/orders/{order_id}/cancel", ("sales",)),
            ("GET", "/api/v1/sales/products/{sku}", AUTHENTICATED),
            ("POST", "/api/v1/sales/webhooks/{provider}", PUBLIC),
            ("GET", "/api/v1/sales/files/{name:path}", ("sales",)),
        )
    }
)


def test_a_request_finds_the_rule_of_its_method_and_path_template():
    rule = MATRIX.lookup("sales", "GET", "/api/v1/sales/orders/ord_1")
    assert rule is not None and rule.path == "/api/v1/sales/orders/{order_id}"
    assert MATRIX.lookup("sales", "GET", "/api/v1/sales/orders").path == "/api/v1/sales/orders"
    assert MATRIX.lookup("sales", "POST", "/api/v1/sales/orders/o/cancel").path.endswith("/cancel")
    assert MATRIX.lookup("sales", "HEAD", "/api/v1/sales/orders").path == "/api/v1/sales/orders"
    assert MATRIX.lookup("sales", "GET", "/api/v1/sales/files/a/b/c.pdf").path.endswith("{name:path}")


def test_a_parameter_is_one_segment_and_nothing_else_matches_by_accident():
    assert MATRIX.lookup("sales", "GET", "/api/v1/sales/orders/o/extra") is None
    assert MATRIX.lookup("sales", "GET", "/api/v1/sales/orders/") is None
    assert MATRIX.lookup("sales", "DELETE", "/api/v1/sales/orders/o") is None
    assert MATRIX.lookup("sales", "GET", "/api/v1/sales/ordersX") is None
    assert MATRIX.lookup("finance", "GET", "/api/v1/sales/orders") is None


def test_roles_decide_and_admin_passes_every_rule():
    listing = MATRIX.lookup("sales", "GET", "/api/v1/sales/orders")
    assert listing.allows(frozenset({"partner"})) and listing.allows(frozenset({"finance", "sales"}))
    assert not listing.allows(frozenset({"finance"})) and not listing.allows(frozenset())
    assert listing.allows(frozenset({"admin"}))
    product = MATRIX.lookup("sales", "GET", "/api/v1/sales/products/SKU-1")
    assert product.allows(frozenset({"logistics"})) and not product.public
    webhook = MATRIX.lookup("sales", "POST", "/api/v1/sales/webhooks/stripe")
    assert webhook.public


def test_a_matrix_naming_an_unknown_role_does_not_load():
    with pytest.raises(ValueError, match="pirate"):
        RoleMatrix({"sales": (("GET", "/api/v1/sales/x", ("pirate",)),)})


def test_the_rate_limiter_allows_the_limit_then_names_the_wait(monkeypatch):
    # The clock is pinned: the wait depends on where in the window the hits fall (it can exceed the
    # window itself), so a wall-clock test passed or failed by the second it ran in.
    import hanse.ratelimit

    monkeypatch.setattr(hanse.ratelimit.time, "time", lambda: 6030.0)  # 30 s into a window
    limiter = RateLimiter("test", "3/minute")
    assert [limiter.hit("10.0.0.1") for _ in range(3)] == [None, None, None]
    wait = limiter.hit("10.0.0.1")
    # 30 s to the window's end, then until 3 * (1 - g) + 1 <= 3, i.e. a third of the next: 20 s.
    assert wait == 50
    assert limiter.hit("10.0.0.2") is None, "each key has its own count"
    off = RateLimiter("test", "off")
    assert not off.enabled and all(off.hit("k") is None for _ in range(1000))


def test_the_sliding_window_weighs_the_previous_window_and_says_when_the_next_request_fits():
    window = SlidingWindow(amount=10, seconds=60)
    start = 6000.0  # the start of a window (6000 / 60 = 100)
    for i in range(10):
        assert window.wait("k", start + i) == 0
        window.add("k", start + i)
    assert window.wait("k", start + 30) == pytest.approx(30 + 6)  # next window, once 10 * (1 - g) + 1 <= 10
    # Half-way through the next window the previous ten weigh five: five more fit, the sixth waits.
    later = start + 90
    for _ in range(5):
        assert window.wait("k", later) == 0
        window.add("k", later)
    assert window.wait("k", later) == pytest.approx(6)  # until 10 * (1 - e) + 5 + 1 <= 10, e = 0.6
    assert window.wait("k", start + 240) == 0, "two windows later the count is gone"
    assert window.wait("other", later) == 0


def test_a_limiter_with_two_limits_refuses_on_either_and_counts_only_what_it_lets_through():
    limiter = RateLimiter("test", "2/second;3/minute")
    assert limiter.hit("k") is None and limiter.hit("k") is None
    wait = limiter.hit("k")
    assert wait in (1, 2)  # the per-second limit; the last second still weighs on the next
    time.sleep(wait)
    assert limiter.hit("k") is None, "the refused request was not counted"
    wait = limiter.hit("k")
    assert wait is not None and wait > 2  # now the per-minute limit


def test_rate_limit_settings_refuse_a_notation_the_library_does_not_understand():
    with pytest.raises(ValueError):
        RateLimitSettings(rate_limit="lots per minute")
    assert RateLimitSettings(rate_limit="10/second;600/minute").rate_limit == "10/second;600/minute"


def test_passwords_are_hashed_with_argon2id_and_verified():
    stored = hash_secret("correct horse battery staple")
    assert stored.startswith("$argon2id$") and "correct" not in stored
    assert verify_secret(stored, "correct horse battery staple")
    assert not verify_secret(stored, "correct horse battery stapler")
    assert not verify_secret("not a hash", "anything")
    assert not needs_rehash(stored)
    assert hash_secret("same") != hash_secret("same"), "salted"


def test_client_credentials_come_from_basic_auth_url_encoded():
    encoded = base64.b64encode(b"hc_1%3Ax:s3cr%25t").decode()
    assert basic_credentials(f"Basic {encoded}") == ("hc_1:x", "s3cr%t")
    assert basic_credentials("Bearer abc") is None
    assert basic_credentials("Basic !!!") is None
    assert basic_credentials("Basic " + base64.b64encode(b"no-colon").decode()) is None


def test_roles_of_a_new_user_must_be_known():
    assert check_roles(["sales", "finance", "sales"]) == ["finance", "sales"]
    with pytest.raises(Invalid) as refused:
        check_roles(["sales", "root"])
    assert refused.value.field == "roles"


def test_the_token_cache_verifies_once_and_still_refuses_an_expired_token():
    settings = Settings(env="test", jwt_secret="k" * 40)
    cache = TokenCache(settings, size=2)
    token, _ = issue_token("alice", ["sales"], settings, ttl_seconds=60)
    assert cache.principal(token).subject == "alice"
    assert cache.principal(token).roles == {"sales"}
    short, _ = issue_token("bob", ["sales"], settings, ttl_seconds=1)
    assert cache.principal(short).subject == "bob"
    time.sleep(1.1)
    with pytest.raises(AuthError, match="expired"):
        cache.principal(short)
    with pytest.raises(AuthError):
        cache.principal(token[:-3] + "abc")
    assert bearer(b"Bearer abc.def") == "abc.def" and bearer(b"Basic x") is None and bearer(None) is None

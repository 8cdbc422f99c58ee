"""Settings fail fast outside dev; tokens are verified strictly."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import ValidationError

from hanse.auth import AuthError, Principal, issue_token, verify_token
from hanse.settings import Settings, dev_secret

SECRET = "s" * 40


def test_outside_dev_a_missing_or_short_jwt_secret_stops_the_process():
    with pytest.raises(ValidationError, match="HANSE_JWT_SECRET"):
        Settings(env="prod")
    with pytest.raises(ValidationError, match="HANSE_JWT_SECRET"):
        Settings(env="prod", jwt_secret="short")
    with pytest.raises(ValidationError, match="HANSE_ADMIN_PASSWORD"):
        Settings(env="prod", jwt_secret=SECRET, admin_password="1234")
    assert Settings(env="prod", jwt_secret=SECRET).jwt_secret == SECRET


def test_outside_dev_there_is_no_generated_admin_password(tmp_path):
    settings = Settings(env="prod", jwt_secret=SECRET, data_dir=tmp_path)
    with pytest.raises(RuntimeError, match="HANSE_ADMIN_PASSWORD"):
        settings.admin_login()


def test_dev_secrets_are_generated_once_and_shared_through_the_data_dir(tmp_path):
    first = dev_secret(tmp_path, "jwt-secret")
    assert len(first) >= 32
    assert dev_secret(tmp_path, "jwt-secret") == first
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0, "only the owner may read it"
    settings = Settings(env="dev", data_dir=tmp_path)
    user, password = settings.admin_login()
    assert user == "admin" and password == (tmp_path / "admin-password").read_text().strip()


def test_a_token_round_trips_with_subject_and_roles():
    settings = Settings(env="test", jwt_secret=SECRET)
    token, ttl = issue_token("alice", ["sales", "finance"], settings)
    principal = verify_token(token, settings)
    assert principal == Principal("alice", frozenset({"sales", "finance"}))
    assert ttl == settings.token_ttl_seconds
    assert principal.has_any(("finance",)) and not principal.has_any(("logistics",))
    assert Principal("root", frozenset({"admin"})).has_any(("logistics",))


def test_expired_foreign_unsigned_and_tampered_tokens_are_refused():
    settings = Settings(env="test", jwt_secret=SECRET)
    expired, _ = issue_token("alice", ["sales"], settings, ttl_seconds=-30)
    with pytest.raises(AuthError, match="expired"):
        verify_token(expired, settings)
    foreign = jwt.encode(
        {"sub": "eve", "roles": ["admin"], "iss": "hanse", "iat": int(time.time()), "exp": int(time.time()) + 60},
        "another-secret-" + "x" * 30,
        algorithm="HS256",
    )
    with pytest.raises(AuthError):
        verify_token(foreign, settings)
    unsigned = jwt.encode(
        {"sub": "eve", "roles": ["admin"], "iss": "hanse", "iat": int(time.time()), "exp": int(time.time()) + 60},
        None,
        algorithm="none",
    )
    with pytest.raises(AuthError):
        verify_token(unsigned, settings)
    good, _ = issue_token("alice", ["sales"], settings)
    header, payload, signature = good.split(".")
    with pytest.raises(AuthError):
        verify_token(f"{header}.{payload}.{signature[:-2]}AA", settings)
    with pytest.raises(AuthError):
        verify_token("not-a-jwt", settings)


def test_the_token_cache_answers_like_verification_and_honours_expiry(monkeypatch):
    from hanse.auth import TokenCache

    settings = Settings(env="test", jwt_secret=SECRET)
    cache = TokenCache(settings)
    token, _ = issue_token("alice", ["sales"], settings, ttl_seconds=60)
    assert cache.principal(token) == verify_token(token, settings)
    assert cache.principal(token).subject == "alice"  # the second answer comes from the cache
    with pytest.raises(AuthError):
        cache.principal(token[:-3] + "AAA")
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 120)
    with pytest.raises(AuthError, match="expired"):
        cache.principal(token)

"""Carriers' signed tracking events: whose secret signs them, and checking the signature."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from functools import lru_cache
from pathlib import Path

from hanse.errors import Unauthenticated
from hanse.settings import Settings, dev_secret
from services.logistics.config import LogisticsConfig
from services.logistics.domain.rules import carriers

HEADER = "X-Hanse-Carrier-Signature"
log = logging.getLogger("hanse.logistics")
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")


def sign(secret: str, body: bytes) -> str:
    """The header value a carrier sends: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> None:
    """Raise 401 unless `header` is sha256=<64 hex> and matches the body's HMAC (compared in constant time)."""
    if not header:
        raise Unauthenticated(f"the {HEADER} header is missing", field=HEADER)
    match = _SIGNATURE.match(header.strip())
    if match is None:
        raise Unauthenticated(f"the {HEADER} header must be sha256=<64 hex digits>", field=HEADER)
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match.group(1).lower()):
        raise Unauthenticated("the signature does not match the body", field=HEADER)


def secrets_for(settings: Settings, config: LogisticsConfig) -> dict[str, str]:
    """The carriers' secrets: configured, or (dev and test only) generated once into the data dir.

    With HANSE_ENV=prod a carrier without a configured secret has none: its events are refused (401).
    The service still starts (its other work does not depend on carriers), and says so in the log.
    """
    return _secrets(settings.env, settings.data_dir, tuple(sorted(config.carrier_secrets.items())))


def secret_of(settings: Settings, config: LogisticsConfig, carrier_id: str) -> str:
    secret = secrets_for(settings, config).get(carrier_id)
    if not secret:
        raise Unauthenticated(f"no secret is configured for {carrier_id} (HANSE_CARRIER_SECRETS)", field=HEADER)
    return secret


@lru_cache(maxsize=8)
def _secrets(env: str, data_dir: Path, configured: tuple[tuple[str, str], ...]) -> dict[str, str]:
    given = dict(configured)
    unknown = set(given) - set(carriers())
    if unknown:
        raise ValueError(f"HANSE_CARRIER_SECRETS names unknown carriers: {', '.join(sorted(unknown))}")
    out = {}
    for carrier_id in carriers():
        if given.get(carrier_id):
            out[carrier_id] = given[carrier_id]
        elif env == "prod":
            log.error("HANSE_CARRIER_SECRETS gives no secret for %s: its tracking events are refused", carrier_id)
        else:
            out[carrier_id] = dev_secret(data_dir, f"carrier-secret-{carrier_id}")
    return out

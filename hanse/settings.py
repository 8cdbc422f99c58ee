"""Configuration from environment variables; fails fast on missing or insecure values outside dev."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HANSE_", extra="ignore", populate_by_name=True)

    env: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Path("./var")
    # The service this process runs; set by `hanse serve <name>`.
    service: str = ""

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    topic_prefix: str = "hanse"
    topic_partitions: int = 3
    # Applies to the one service in this process; unset means a SQLite file under data_dir.
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    # HANSE_DB=postgres (without DATABASE_URL): each service on its own database <prefix><service>.
    db: Literal["sqlite", "postgres"] = "sqlite"
    postgres_base: str = "postgresql+asyncpg://postgres@127.0.0.1:5432"
    postgres_db_prefix: str = "hanse_"

    jwt_secret: str | None = None
    jwt_issuer: str = "hanse"
    token_ttl_seconds: int = 3600

    admin_user: str = "admin"
    admin_password: str | None = None

    gateway_port: int = 8000
    # How long every HTTP server (`hanse serve`) keeps an idle connection open. The gateway's
    # upstream pool drops idle connections after half of it, so it never sends a request on a
    # connection a service is closing (that was a 502). Longer than common load balancers' 60 s.
    keep_alive_seconds: int = Field(75, ge=1)
    service_port_base: int = 8100

    relay_poll_seconds: float = 1.0
    relay_batch_size: int = 500
    consumer_max_attempts: int = 5
    consumer_backoff_seconds: float = 0.2
    consumer_backoff_max_seconds: float = 5.0
    consumer_fetch_wait_ms: int = 100

    # Mail (hanse.mail): the SMTP server the mail worker sends through. smtp:// (with ?starttls=1 to
    # require STARTTLS), smtps:// for implicit TLS; user:password@ in the URL. `hanse dev` points
    # it at its SMTP sink.
    smtp_url: str = "smtp://127.0.0.1:8025"
    mail_from: str = "Hanse <noreply@hanse.localhost>"
    mail_poll_seconds: float = 1.0
    mail_batch_size: int = Field(100, ge=1)
    mail_max_attempts: int = Field(12, ge=1)
    mail_backoff_seconds: float = 60.0
    mail_backoff_max_seconds: float = 3600.0
    mail_timeout_seconds: float = 30.0

    seller_country: str = "DE"
    base_currency: str = "EUR"

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("HANSE_SMTP_URL must be smtp://host:port or smtps://host:port")
        return value

    @model_validator(mode="after")
    def _refuse_insecure_outside_dev(self) -> Settings:
        if self.env == "dev":
            return self
        if not self.jwt_secret or len(self.jwt_secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"HANSE_JWT_SECRET must be set to at least {MIN_SECRET_LENGTH} characters")
        if self.admin_password is not None and len(self.admin_password) < 12:
            raise ValueError("HANSE_ADMIN_PASSWORD must be at least 12 characters")
        return self

    # -- derived values -------------------------------------------------------------------------

    def topic(self, department: str) -> str:
        return f"{self.topic_prefix}.{department}"

    def dlq_topic(self, consumer: str) -> str:
        return f"{self.topic_prefix}.{consumer}.dlq"

    def retry_topic(self, consumer: str) -> str:
        return f"{self.topic_prefix}.{consumer}.retry"

    def topics_for(self, services: Iterable[str]) -> list[str]:
        """Each service's event topic, dead-letter topic and retry topic."""
        names = []
        for service in services:
            names += [self.topic(service), self.dlq_topic(service), self.retry_topic(service)]
        return names

    def database_url_for(self, service: str) -> str:
        if self.database_url:
            return self.database_url
        if self.db == "postgres":
            return self.postgres_url_for(service)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"

    def postgres_url_for(self, service: str) -> str:
        return f"{self.postgres_base.rstrip('/')}/{self.postgres_db_prefix}{service}"

    @property
    def upstream_pool_idle_seconds(self) -> float:
        """How long the gateway's upstream pool keeps an idle connection: always before the service closes it."""
        return self.keep_alive_seconds / 2

    def signing_secret(self) -> str:
        """The JWT secret; in dev, one generated once and shared by all processes via data_dir."""
        if self.jwt_secret:
            return self.jwt_secret
        return dev_secret(self.data_dir, "jwt-secret")

    def admin_login(self) -> tuple[str, str]:
        if self.admin_password:
            return self.admin_user, self.admin_password
        if self.env != "dev":
            raise RuntimeError("HANSE_ADMIN_PASSWORD must be set outside HANSE_ENV=dev")
        return self.admin_user, dev_secret(self.data_dir, "admin-password", nbytes=12)


def dev_secret(data_dir: Path, name: str, nbytes: int = 32) -> str:
    """Read a generated dev secret from data_dir, creating it (mode 0600) on first use."""
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    try:
        # link() fails if another process created it first: then theirs wins, and all agree.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()

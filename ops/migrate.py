"""`hanse migrate`: apply or write a service's Alembic migrations, found by the service's name.

The environments and the startup check live in the kernel (`hanse.migrations`); this module maps
the platform's service names to their packages and runs the command over one or all of them.
"""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from hanse import migrations
from hanse.migrations import SchemaNotMigrated, current_revisions
from hanse.settings import Settings, get_settings
from services import DEPARTMENTS

SERVICES: tuple[str, ...] = (*DEPARTMENTS, "gateway")
log = migrations.log

__all__ = ["SERVICES", "SchemaNotMigrated", "current_revisions"]


def package_of(name: str) -> str:
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")
    return "gateway" if name == "gateway" else f"services.{name}"


def migrations_dir(name: str) -> Path:
    module = importlib.import_module(package_of(name))
    return Path(module.__file__).resolve().parent / "migrations"


def metadata_of(name: str) -> MetaData:
    return importlib.import_module(f"{package_of(name)}.models").Model.metadata


def alembic_config(name: str, url: str | None = None) -> Config:
    return migrations.alembic_config(name, migrations_dir(name), url)


def configure_options(name: str) -> dict[str, Any]:
    return migrations.configure_options(metadata_of(name))


def script_heads(name: str) -> set[str]:
    return migrations.script_heads(migrations_dir(name))


async def upgrade(name: str, url: str, revision: str = "head") -> None:
    await migrations.upgrade(name, migrations_dir(name), url, revision)


async def check_schema(name: str, url: str) -> None:
    await migrations.check_schema(name, migrations_dir(name), url)


async def autogenerate(name: str, message: str) -> Path | None:
    """Write a new revision with what the models have and the migrations do not."""
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'scratch.db'}"
        await upgrade(name, url)
        config = alembic_config(name, url)
        config.attributes["autogenerate"] = True
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:

                def run(sync: Connection) -> Any:
                    config.attributes["connection"] = sync
                    return command.revision(config, message=message, autogenerate=True)

                script = await conn.run_sync(run)
        finally:
            await engine.dispose()
    return Path(script.path) if script is not None else None


def migrate_urls(target: str, settings: Settings) -> dict[str, str]:
    """Which databases `hanse migrate <target>` touches."""
    names = SERVICES if target == "all" else (target,)
    for name in names:
        package_of(name)
    if target == "all" and settings.database_url and settings.db != "postgres":
        raise ValueError(
            "DATABASE_URL names one service's database; for `hanse migrate all` set HANSE_DB=postgres "
            "(and HANSE_POSTGRES_BASE) or unset DATABASE_URL to migrate the SQLite files"
        )
    if target == "all" and settings.db == "postgres":
        return {name: settings.postgres_url_for(name) for name in names}
    return {name: settings.database_url_for(name) for name in names}


async def migrate(target: str, settings: Settings | None = None) -> dict[str, str]:
    """Upgrade every database named by target to head; returns service -> revision reached."""
    settings = settings or get_settings()
    reached = {}
    for name, url in migrate_urls(target, settings).items():
        await upgrade(name, url)
        reached[name] = ", ".join(sorted(await current_revisions(url)))
        log.info("%s migrated to %s (%s)", name, reached[name], url.split("@")[-1])
    return reached

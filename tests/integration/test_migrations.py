"""Alembic migrations: they build exactly the models' schema, `hanse migrate` applies them, prod refuses without."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from hanse.db import drop_postgres_database
from hanse.settings import Settings
from ops import migrate
from ops.broker import EmbeddedBroker, die_with_parent
from tests.conftest import PG_BASE, TEST_SECRET, make_settings, postgres_available
from tests.support.service import run_service


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANSE_", "KAFKA_", "DATABASE_URL"))}
    return {**env, **extra}


def _hanse(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=die_with_parent(),
    )


async def _schema_diff(name: str, url: str) -> list:
    options = migrate.configure_options(name)
    metadata = options.pop("target_metadata")
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
            )
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", migrate.SERVICES)
async def test_migrations_build_exactly_the_tables_the_models_declare(service: str, database_url: str):
    await migrate.upgrade(service, database_url)
    assert await migrate.current_revisions(database_url) == migrate.script_heads(service)
    diff = await _schema_diff(service, database_url)
    assert diff == [], (
        f"{service}: models and migrations disagree; write a revision with "
        f"`hanse migrate {service} --autogenerate -m '<what changed>'` and review it:\n{diff}"
    )


@pytest.mark.parametrize("service", migrate.SERVICES)
def test_every_service_has_one_linear_history_that_carries_the_kernel_tables(service: str):
    script = ScriptDirectory.from_config(migrate.alembic_config(service))
    assert len(script.get_heads()) == 1, f"{service} has diverging migration heads: {script.get_heads()}"
    assert len(script.get_bases()) == 1
    first = script.get_revision(script.get_bases()[0])
    source = Path(first.path).read_text()
    for table in ("outbox", "inbox", "idempotency_key"):
        assert f'"{table}"' in source, f"{service}'s first revision does not create {table}"


def test_every_environment_uses_the_same_revision_template():
    templates = {name: (migrate.migrations_dir(name) / "script.py.mako").read_text() for name in migrate.SERVICES}
    assert len(set(templates.values())) == 1, "script.py.mako differs between services; keep one text everywhere"


async def test_hanse_migrate_then_the_service_starts_in_prod_and_serves(
    broker: EmbeddedBroker, database_url: str, tmp_path: Path
):
    result = _hanse("migrate", "sales", env=_clean_env(DATABASE_URL=database_url, HANSE_DATA_DIR=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert f"sales: at {next(iter(migrate.script_heads('sales')))}" in result.stdout

    settings = make_settings(broker.bootstrap, database_url, env="prod")
    async with run_service("sales", settings) as sales:
        ready = await sales.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        created = await sales.client.post(
            "/api/v1/sales/products",
            headers=sales.auth("sales"),
            json={
                "sku": "MIG-1",
                "name": "Migrated widget",
                "hs_code": "847130",
                "origin_country": "DE",
                "unit_price": {"amount": "10.00", "currency": "EUR"},
                "unit_weight_kg": "1.5",
            },
        )
        assert created.status_code == 201, created.text


async def test_the_service_refuses_to_start_in_prod_on_an_empty_database(broker: EmbeddedBroker, database_url: str):
    settings = make_settings(broker.bootstrap, database_url, env="prod")
    with pytest.raises(migrate.SchemaNotMigrated, match=r"never migrated.*hanse migrate finance"):
        async with run_service("finance", settings):
            pass
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    assert tables == [], "a refused start must not create tables behind the migrations' back"


async def test_an_outdated_database_is_refused_and_named(broker: EmbeddedBroker, tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'marketing.db'}"
    await migrate.upgrade("marketing", url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'an_older_revision'")
    finally:
        await engine.dispose()
    with pytest.raises(migrate.SchemaNotMigrated, match=r"at revision an_older_revision, but this release needs"):
        await migrate.check_schema("marketing", url)


def test_hanse_serve_in_prod_on_an_unmigrated_database_exits_with_a_clear_message(tmp_path: Path):
    env = _clean_env(
        HANSE_ENV="prod",
        HANSE_JWT_SECRET=TEST_SECRET,
        HANSE_ADMIN_PASSWORD="a-long-admin-password",
        HANSE_DATA_DIR=str(tmp_path),
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
    )
    result = _hanse("serve", "gateway", "--port", "0", env=env, timeout=60)
    assert result.returncode != 0
    assert "refusing to start: the gateway database is at revision none" in result.stderr
    assert "run `hanse migrate gateway`" in result.stderr


def test_hanse_migrate_all_brings_every_sqlite_file_to_head_and_is_idempotent(tmp_path: Path):
    env = _clean_env(HANSE_DATA_DIR=str(tmp_path))
    for _ in range(2):
        result = _hanse("migrate", "all", env=env)
        assert result.returncode == 0, result.stderr
    for name in migrate.SERVICES:
        head = next(iter(migrate.script_heads(name)))
        assert f"{name}: at {head}" in result.stdout
        assert (tmp_path / f"{name}.db").exists()


@pytest.mark.postgres
async def test_hanse_migrate_all_on_postgres_creates_one_database_per_service():
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    prefix = f"hanse_mig_{uuid.uuid4().hex[:8]}_"
    env = _clean_env(HANSE_DB="postgres", HANSE_POSTGRES_BASE=PG_BASE, HANSE_POSTGRES_DB_PREFIX=prefix)
    settings = Settings(db="postgres", postgres_base=PG_BASE, postgres_db_prefix=prefix)
    try:
        result = _hanse("migrate", "all", env=env)
        assert result.returncode == 0, result.stderr
        for name in migrate.SERVICES:
            url = settings.postgres_url_for(name)
            assert url.endswith(f"/{prefix}{name}")
            assert await migrate.current_revisions(url) == migrate.script_heads(name)
    finally:
        for name in migrate.SERVICES:
            await drop_postgres_database(settings.postgres_url_for(name))


def test_migrate_all_with_one_database_url_is_refused_before_touching_it(tmp_path: Path):
    target = tmp_path / "one.db"
    result = _hanse("migrate", "all", env=_clean_env(DATABASE_URL=f"sqlite+aiosqlite:///{target}"))
    assert result.returncode == 2
    assert "DATABASE_URL names one service's database" in result.stderr
    assert not target.exists()

"""Alembic per service: every env.py's body, applying migrations, and the schema check at startup.

Each department and the gateway keep an Alembic environment in `<package>/migrations/` whose
target is that service's own metadata (its tables plus the kernel's outbox, inbox and
idempotency_key). The environments share this module, so env.py is three lines everywhere.
`ops/migrate.py` (the `hanse migrate` command) finds a service's folder by its name.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from hanse import db as dbmod
from hanse.db import UTCDateTime
from hanse.settings import Settings, get_settings

log = logging.getLogger("hanse.migrate")
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


# The advisory lock (hanse.db.advisory_lock) under which a database's schema is created or migrated.
SCHEMA_LOCK = "hanse.schema"


class SchemaNotMigrated(RuntimeError):
    """The database is not at the revision this release expects."""


def alembic_config(service: str, script_location: Path, url: str | None = None) -> Config:
    """An Alembic config for one service, built in code (no alembic.ini needed at run time)."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    # New revisions come out formatted and lint-clean, like the rest of the code.
    hooks = (
        ("ruff_format", "format --quiet"),
        ("ruff_fix", "check --fix --exit-zero --quiet"),
        ("ruff_final", "format"),
    )
    config.set_section_option("post_write_hooks", "hooks", ", ".join(hook for hook, _ in hooks))
    for hook, options in hooks:
        config.set_section_option("post_write_hooks", f"{hook}.type", "module")
        config.set_section_option("post_write_hooks", f"{hook}.module", "ruff")
        config.set_section_option("post_write_hooks", f"{hook}.options", f"{options} REVISION_SCRIPT_FILENAME")
    config.attributes["service"] = service
    if url:
        config.attributes["url"] = url
    return config


def script_heads(script_location: Path) -> set[str]:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    return set(ScriptDirectory.from_config(config).get_heads())


# -- env.py ----------------------------------------------------------------------------------------


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render Hanse's and SQLModel's column types as importable code in generated revisions."""
    if type_ != "type":
        return False
    module = type(obj).__module__
    if module.startswith("hanse."):
        autogen_context.imports.add(f"import {module}")
        # UTCDateTime and friends take no arguments: their impl is fixed.
        return f"{module}.{type(obj).__name__}()"
    if module.startswith("sqlmodel."):
        autogen_context.imports.add("import sqlmodel")
        length = getattr(obj, "length", None)
        return f"{module}.{type(obj).__name__}({'' if length is None else f'length={length}'})"
    return False


def _skip_empty_revisions(context: Any, revision: Any, directives: list[Any]) -> None:
    if not context.config.attributes.get("autogenerate"):
        return
    if directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.warning("models and migrations agree: no revision written")


def configure_options(metadata: MetaData) -> dict[str, Any]:
    """The options every environment (and the drift test) hands to Alembic."""
    return {
        "target_metadata": metadata,
        "render_as_batch": True,  # SQLite cannot ALTER most things; batch mode copies the table
        "compare_type": True,
        "compare_server_default": False,
        "render_item": render_item,
        "process_revision_directives": _skip_empty_revisions,
    }


def run_environment(name: str, metadata: MetaData) -> None:
    """Body of services/<dept>/migrations/env.py (and the gateway's)."""
    from alembic import context

    config = context.config
    options = configure_options(metadata)
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run(context, connection, options)
        return
    url = config.attributes.get("url") or get_settings().database_url_for(name)
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_async(context, url, options))


def _run(context: Any, connection: Connection, options: dict[str, Any]) -> None:
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(context: Any, url: str, options: dict[str, Any]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(lambda sync: _run(context, sync, options))
            await conn.commit()
    finally:
        await engine.dispose()


# -- applying and checking -------------------------------------------------------------------------


async def upgrade(name: str, script_location: Path, url: str, revision: str = "head") -> None:
    """Bring one service database to `revision` (creating the PostgreSQL database if missing)."""
    if dbmod.is_postgres(url):
        await dbmod.ensure_postgres_database(url)
    config = alembic_config(name, script_location, url)
    engine = create_async_engine(url)
    try:
        # One migration at a time per database: a `hanse migrate` job and a starting replica, or two jobs.
        async with dbmod.advisory_lock(engine, SCHEMA_LOCK), engine.begin() as conn:

            def run(sync: Connection) -> None:
                config.attributes["connection"] = sync
                command.upgrade(config, revision)

            await conn.run_sync(run)
    finally:
        await engine.dispose()


async def current_revisions(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads()))
    finally:
        await engine.dispose()


async def check_schema(name: str, script_location: Path, url: str) -> None:
    """Refuse a database that is empty or not at this release's head revision."""
    heads = script_heads(script_location)
    current = await current_revisions(url)
    if current != heads:
        at = ", ".join(sorted(current)) or "none (the database was never migrated)"
        raise SchemaNotMigrated(
            f"the {name} database is at revision {at}, but this release needs {', '.join(sorted(heads))}: "
            f"run `hanse migrate {name}` (the same image and configuration) before starting the service"
        )


async def prepare_database(database: dbmod.Database, name: str, script_location: Path, settings: Settings) -> None:
    """At startup: in prod the schema must already be migrated; dev and test create missing tables."""
    if settings.env == "prod":
        try:
            await check_schema(name, script_location, database.url)
        except SchemaNotMigrated as exc:
            log.error("refusing to start: %s", exc)
            raise
        return
    # Replicas start together: on PostgreSQL two concurrent CREATE TABLEs of one table collide
    # (pg_type's unique index), so the second waits for the first and then finds the tables there.
    async with dbmod.advisory_lock(database.engine, SCHEMA_LOCK):
        await database.create_all()


# -- kernel tables in every service's revisions ---------------------------------------------------
# Every service database carries the kernel's tables, so a change to them is one frozen function
# here, called by one small revision per service. Frozen: never edit one once released (an old
# revision must keep building the old shape); a later change to a kernel table is a new function.


def create_mail_outbox() -> None:
    """2026-11: the mail outbox and its attachments (hanse.mail)."""
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=True),
        sa.Column("to_address", sa.String(length=512), nullable=False),
        sa.Column("from_address", sa.String(length=512), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mail_outbox_due",
            ["next_attempt_at", "id"],
            unique=False,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index(batch_op.f("ix_mail_outbox_ref"), ["ref"], unique=False)

    op.create_table(
        "mail_attachment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("mail_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["mail_id"], ["mail_outbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mail_attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_attachment_mail_id"), ["mail_id"], unique=False)


def drop_mail_outbox() -> None:
    with op.batch_alter_table("mail_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_attachment_mail_id"))

    op.drop_table("mail_attachment")
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_outbox_ref"))
        batch_op.drop_index(
            "ix_mail_outbox_due",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )

    op.drop_table("mail_outbox")


def create_document_store() -> None:
    """2026-11: rendered documents, each produced once under its key (hanse.documents)."""
    op.create_table(
        "document",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )


def drop_document_store() -> None:
    op.drop_table("document")

"""Async database per service: SQLite file by default, PostgreSQL via DATABASE_URL.

Each service gets its own SQLModel base (own metadata), which also carries the kernel's
outbox, inbox, idempotency, mail outbox and document tables, so every service database has the same
plumbing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import registry
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.sql import Select
from sqlalchemy.util import await_
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty
from sqlmodel import Session, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.sqlite import dbapi as sqlite_dbapi

if TYPE_CHECKING:
    from hanse.documents import DocumentTemplates
    from hanse.mail import MailTemplates

# Integer on SQLite (so it aliases ROWID and autoincrements), BIGINT elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Hanse stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def kernel_tables(metadata: MetaData) -> dict[str, Table]:
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(255), nullable=False),
        Column("key", String(255), nullable=False),
        Column("event_type", String(255), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("sent_at", UTCDateTime, nullable=True),
    )
    # The relay only ever scans unsent rows.
    Index(
        "ix_outbox_unsent",
        outbox.c.id,
        sqlite_where=outbox.c.sent_at.is_(None),
        postgresql_where=outbox.c.sent_at.is_(None),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("event_id", String(64), primary_key=True),
        Column("event_type", String(255), nullable=False),
        Column("handled_at", UTCDateTime, nullable=False),
    )
    idempotency = Table(
        "idempotency_key",
        metadata,
        Column("key", String(255), primary_key=True),
        Column("principal", String(255), primary_key=True),
        Column("method", String(10), nullable=False),
        Column("path", Text, nullable=False),
        # sha256 of method, path, query and body: the same key with another request is refused.
        Column("fingerprint", String(64), nullable=False),
        # 0 while the first request is still running.
        Column("status", Integer, nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("content_type", String(255), nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
    )
    return {
        "outbox": outbox,
        "inbox": inbox,
        "idempotency_key": idempotency,
        **mail_tables(metadata),
        "document": document_table(metadata),
    }


def mail_tables(metadata: MetaData) -> dict[str, Table]:
    """The mail outbox (hanse.mail): one row per message, rendered, with its delivery record."""
    mail = Table(
        "mail_outbox",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        # Fixed when the row is written: a resend after a crash carries the same one.
        Column("message_id", String(255), nullable=False, unique=True),
        Column("template", String(100), nullable=False),
        # What the message is about (e.g. "account:<id>"), so a department can list what it sent.
        Column("ref", String(255), nullable=True, index=True),
        Column("to_address", String(512), nullable=False),
        Column("from_address", String(512), nullable=False),
        Column("language", String(35), nullable=False),
        Column("subject", Text, nullable=False),
        Column("text_body", Text, nullable=False),
        Column("html_body", Text, nullable=True),
        # JSON object of extra header fields (List-Unsubscribe, Reply-To ...).
        Column("headers", Text, nullable=False),
        Column("status", String(16), nullable=False),  # pending, sent, failed
        Column("attempts", Integer, nullable=False),
        Column("next_attempt_at", UTCDateTime, nullable=False),
        Column("last_error", Text, nullable=True),
        Column("created_at", UTCDateTime, nullable=False),
        Column("sent_at", UTCDateTime, nullable=True),
    )
    # The worker only ever scans pending rows, earliest due first.
    Index(
        "ix_mail_outbox_due",
        mail.c.next_attempt_at,
        mail.c.id,
        sqlite_where=mail.c.status == "pending",
        postgresql_where=mail.c.status == "pending",
    )
    attachment = Table(
        "mail_attachment",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("mail_id", BigId, ForeignKey("mail_outbox.id", ondelete="CASCADE"), nullable=False, index=True),
        Column("position", Integer, nullable=False),
        Column("filename", String(255), nullable=False),
        Column("content_type", String(255), nullable=False),
        Column("content", LargeBinary, nullable=False),
    )
    return {"mail_outbox": mail, "mail_attachment": attachment}


def document_table(metadata: MetaData) -> Table:
    """Rendered documents (hanse.documents): each PDF produced once under its key and kept as it was."""
    return Table(
        "document",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        # What the document is, e.g. "invoice:<id>" or "shipment:<id>:packing_list".
        Column("key", String(255), nullable=False, unique=True),
        Column("template", String(100), nullable=False),
        Column("language", String(35), nullable=False),
        Column("filename", String(255), nullable=False),
        Column("content_type", String(100), nullable=False),
        Column("content", LargeBinary, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
    )


KERNEL_TABLES = ("outbox", "inbox", "idempotency_key", "mail_outbox", "mail_attachment", "document")

SelectT = TypeVar("SelectT", bound=Select[Any])


def claim(query: SelectT) -> SelectT:
    """`query` locking the rows it returns, skipping rows another replica holds (FOR UPDATE SKIP LOCKED).

    How the outbox relay, the mail worker and scheduled jobs share work across replicas on
    PostgreSQL; SQLite renders no lock (it has one writer at a time anyway).
    """
    return query.with_for_update(skip_locked=True)


def upsert(session: AsyncSession | Any, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT DO NOTHING / DO UPDATE on the session's backend.

    Both SQLite and PostgreSQL speak `INSERT ... ON CONFLICT`; SQLAlchemy spells it per dialect.
    `session` is a session or a connection.
    """
    bind = session.bind if isinstance(session, AsyncSession) else session
    dialect = bind.dialect.name if bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def next_in_series(session: AsyncSession, counter: Any, series: str, year: int) -> int:
    """The next number of a gap-free series (PF, INV, CN, PO ...) in `year`, taken in the caller's transaction.

    `counter` is the department's counter table (columns series, year, last). The UPDATE locks the
    counter row until the caller commits (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises
    writers), and a rollback gives the number back: no gaps, no duplicates.
    """
    table = counter.__table__ if hasattr(counter, "__table__") else counter
    await session.execute(
        upsert(session, table)
        .values(series=series, year=year, last=0)
        .on_conflict_do_nothing(index_elements=["series", "year"])
    )
    result = await session.execute(
        table.update()
        .where(table.c.series == series, table.c.year == year)
        .values(last=table.c.last + 1)
        .returning(table.c.last)
    )
    return int(result.scalar_one())


def model_base(service: str) -> type[SQLModel]:
    """A SQLModel base whose tables live in this service's own metadata."""
    metadata = MetaData(info={"service": service})
    kernel_tables(metadata)

    class ServiceModel(SQLModel, registry=registry(metadata=metadata)):
        pass

    ServiceModel.__name__ = ServiceModel.__qualname__ = f"{service.title()}Model"
    return ServiceModel


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


class Database:
    """Engine, session factory and commit hooks of one service database."""

    def __init__(
        self,
        url: str,
        metadata: MetaData,
        *,
        settings: Any = None,
        mail_templates: MailTemplates | None = None,
        document_templates: DocumentTemplates | None = None,
        echo: bool = False,
    ) -> None:
        self.url = url
        self.metadata = metadata
        self.settings = settings
        self.is_postgres = is_postgres(url)
        if self.is_postgres:
            self.engine: AsyncEngine = create_async_engine(
                url, echo=echo, poolclass=FairPool, pool_size=10, max_overflow=20
            )
            # Reads (GET, HEAD) on a pool of their own in autocommit: no BEGIN and ROLLBACK round
            # trips around them. Each statement reads committed data, as it did inside a READ
            # COMMITTED transaction; the server refuses a write on these connections, so a read
            # session can never change data unnoticed.
            self.read_engine = create_async_engine(
                url,
                echo=echo,
                poolclass=FairPool,
                pool_size=READ_POOL_SIZE,
                max_overflow=0,  # as on SQLite: opening a connection per request costs more than waiting
                isolation_level="AUTOCOMMIT",
                connect_args={"server_settings": {"default_transaction_read_only": "on"}},
            )
            for engine in (self.engine, self.read_engine):
                _ping_when_idle(engine)
        else:
            # aiosqlite at one thread hop per statement instead of four (hanse.sqlite).
            kwargs: dict[str, Any] = {
                "echo": echo,
                "connect_args": {"timeout": 30},
                "module": sqlite_dbapi(),
                "poolclass": FairPool,
            }
            # SQLite has one writer at a time anyway (BEGIN IMMEDIATE). With one write connection,
            # waiting writers queue on the pool and are woken at once, in order; with several they
            # each poll SQLite's busy handler, which sleeps up to 100 ms between tries (measured:
            # burst p50 order -> shipment 3.7 s -> 1.4 s, see docs/performance.md).
            self.engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60, **kwargs)
            _sqlite_serialised_writes(self.engine)
            # Readers get plain deferred transactions: in WAL mode they never wait for a writer.
            # A fixed set of reader connections, no overflow: an overflow connection is opened for a
            # request and closed after it (a new thread, the pragmas, the schema read again), which
            # under 32 concurrent GETs cost more CPU than the requests themselves (docs/performance.md).
            self.read_engine = create_async_engine(url, pool_size=READ_POOL_SIZE, max_overflow=0, **kwargs)
            _sqlite_snapshot_reads(self.read_engine)
        self.on_commit: list[Callable[[], None]] = []
        # Called after a commit that wrote mail (the mail worker's wake-up).
        self.on_mail_commit: list[Callable[[], None]] = []

        class _SyncSession(Session):
            pass

        event.listen(_SyncSession, "after_commit", self._after_commit)
        kernel = {name: metadata.tables[name] for name in KERNEL_TABLES}
        options: dict[str, Any] = {
            "class_": AsyncSession,
            "sync_session_class": _SyncSession,
            "expire_on_commit": False,
            # Every session carries the service's templates, so `uow.send_mail` and `uow.document`
            # work wherever the unit of work was built (request, consumer, scheduler).
            "info": {"tables": kernel, "mail_templates": mail_templates, "document_templates": document_templates},
        }
        self.sessionmaker = async_sessionmaker(self.engine, **options)
        self.read_sessionmaker = async_sessionmaker(self.read_engine, **options)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop("outbox_pending", False):
            for callback in self.on_commit:
                callback()
        if session.info.pop("mail_pending", False):
            for callback in self.on_mail_commit:
                callback()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for reading only (never blocks behind writers on SQLite)."""
        async with self.read_sessionmaker() as session:
            yield session

    async def create_all(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(self.metadata.create_all)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


# Connections for reading (GET, HEAD) per process; requests beyond wait for one.
READ_POOL_SIZE = 4


class FairQueue(AsyncAdaptedQueue[Any]):
    """The async pool's queue, first come, first served.

    SQLAlchemy's hands a returned connection to whichever task asks next: a newcomer takes it before
    the waiter woken for it runs, and that waiter queues again at the back. Under 32 concurrent GETs
    on PostgreSQL's four reader connections the median request took 3 ms and the slowest over 2 s
    (wrk timeouts); on SQLite's one write connection accepts starved behind consumer batches. Here a
    returned connection goes straight to the longest waiter, and nobody takes one past a waiter.
    """

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()

    def put_nowait(self, item: Any) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        super().put_nowait(item)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # the pool never blocks on a return; a full queue raises Full as before

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not self._waiters:
            try:
                return self._queue.get_nowait()
            except asyncio.QueueEmpty:
                pass
        if not block:
            raise Empty()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await_(self._wait(waiter, timeout))
        except TimeoutError:
            raise Empty() from None

    async def _wait(self, waiter: asyncio.Future[Any], timeout: float | None) -> Any:
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())  # handed over as we gave up: to the next in line
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise


class FairPool(AsyncAdaptedQueuePool):
    """Every engine's pool: SQLAlchemy's async queue pool with a first-come, first-served queue."""

    _queue_class = FairQueue
    # Log as the pool it extends: under "hanse." its checkout lines would join our DEBUG logs.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"


# A pooled PostgreSQL connection idle this long is pinged before use (a database restart in between).
IDLE_PING_SECONDS = 10.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only when it sat idle: a busy pool pays no round trip.

    SQLAlchemy's pool_pre_ping pings on every checkout: three round trips (BEGIN, ping,
    ROLLBACK with asyncpg) before every request. A connection in steady use is known to be alive;
    one that has not been used for a while may have been cut (database restart, failover, an idle
    timeout on the way), and a failed ping hands the pool a fresh connection instead.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", time.monotonic()) < IDLE_PING_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc


def _sqlite_serialised_writes(engine: AsyncEngine) -> None:
    """SQLite: WAL, and BEGIN IMMEDIATE so concurrent transactions queue instead of deadlocking.

    With deferred transactions two writers that both read first fail with SQLITE_BUSY on
    upgrade; IMMEDIATE takes the write lock up front, which is what makes reservations and
    invoice numbering race-free on SQLite (PostgreSQL uses row locks instead).
    """

    _sqlite_pragmas(engine)

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        # Sent in the hop of the transaction's first statement (hanse.sqlite).
        conn.connection.dbapi_connection.begin_later("BEGIN IMMEDIATE")


def _sqlite_snapshot_reads(engine: AsyncEngine) -> None:
    _sqlite_pragmas(engine)

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.connection.dbapi_connection.begin_later("BEGIN")

    @event.listens_for(engine.sync_engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        # As on PostgreSQL: a read session that tried to write fails instead of writing.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver; SQLAlchemy's "begin" event issues BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


async def ensure_postgres_database(url: str) -> None:
    """Create the database named in a PostgreSQL URL if it does not exist (dev and tests)."""
    import asyncpg

    parsed = make_url(url)
    name = parsed.database
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # a replica starting at the same moment created it between our check and CREATE
    finally:
        await conn.close()


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for a PostgreSQL advisory lock called `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@asynccontextmanager
async def advisory_lock(engine: AsyncEngine, name: str) -> AsyncIterator[None]:
    """Hold the PostgreSQL advisory lock `name` in this database; other processes asking for it wait.

    For work every replica does once at start and that must not run twice at the same moment
    (creating tables, migrating). Session-level, on a connection of its own, so the work inside
    may commit as it likes; the lock goes with the connection if the process dies. SQLite: a no-op
    (one process per file).
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    key = advisory_key(name)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        await conn.commit()
        try:
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            await conn.commit()


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    finally:
        await conn.close()

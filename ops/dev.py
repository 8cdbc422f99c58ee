"""`hanse dev`: the whole platform as child processes in the foreground.

Starts the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS points elsewhere), the SMTP sink
(unless HANSE_SMTP_URL points elsewhere), the six department services and the gateway; prints
where they listen, where mail lands and the admin login; restarts a child that dies; on Ctrl-C
or SIGTERM stops them all. Children die with the supervisor even if it is killed outright
(PR_SET_PDEATHSIG), so nothing is ever left behind.

`HANSE_REPLICAS=2 HANSE_DB=postgres` runs two processes of every department and of the gateway
(docs/replicas.md): the replicas of a service share its port (SO_REUSEPORT), so URLs stay the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from hanse.settings import Settings, get_settings
from ops.broker import die_with_parent, port_open
from services import DEPARTMENTS, service_port

COLOURS = {
    "broker": 90,
    "smtp": 90,
    "marketing": 35,
    "sales": 34,
    "compliance": 33,
    "finance": 32,
    "logistics": 36,
    "procurement": 91,
    "gateway": 1,
}
# Started first and stopped last: what the services talk to.
INFRASTRUCTURE = ("broker", "smtp")
MAX_REPLICAS = 4


class ReplicasRefused(ValueError):
    """HANSE_REPLICAS asks for what this configuration cannot run correctly."""


def replicas_wanted(env: dict[str, str]) -> int:
    """How many processes of each department and of the gateway to run (HANSE_REPLICAS, default 1)."""
    raw = env.get("HANSE_REPLICAS", "1").strip() or "1"
    try:
        count = int(raw)
    except ValueError:
        raise ReplicasRefused(f"HANSE_REPLICAS must be a whole number from 1 to {MAX_REPLICAS}, not {raw!r}") from None
    if not 1 <= count <= MAX_REPLICAS:
        raise ReplicasRefused(f"HANSE_REPLICAS must be from 1 to {MAX_REPLICAS}, not {count}")
    if count > 1 and env.get("HANSE_DB", "sqlite") != "postgres":
        # SQLite allows one writer per file and the replicas would queue on its lock; the outbox and
        # scheduler claims (FOR UPDATE SKIP LOCKED) that let replicas share work exist on PostgreSQL only.
        raise ReplicasRefused(
            "HANSE_REPLICAS > 1 needs PostgreSQL (HANSE_DB=postgres): a SQLite file has one writer, "
            "so replicas of a service cannot share it (docs/replicas.md)"
        )
    return count


def replica_name(service: str, index: int) -> str:
    """The first replica keeps the service's name; the others are `sales-2`, `sales-3` ..."""
    return service if index == 1 else f"{service}-{index}"


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    url: str | None = None  # where /readyz answers (None for the broker and the SMTP sink)
    address: str | None = None  # host:port that listens once the broker or the sink is up
    process: asyncio.subprocess.Process | None = None
    shares_port: bool = False  # a replica: other processes answer on the same port (SO_REUSEPORT)
    restarts: int = 0
    started_at: float = 0.0
    pump: asyncio.Task[None] | None = field(default=None, repr=False)


class Supervisor:
    def __init__(self, children: list[Child], out=sys.stdout) -> None:
        self.children = children
        self.out = out
        self.stopping = asyncio.Event()
        self.tty = out.isatty()
        self.width = max([11, *(len(c.name) for c in children)])  # "procurement-2" with replicas

    def say(self, name: str, line: str) -> None:
        label = f"{name:<{self.width}}"
        if self.tty:
            label = f"\033[{COLOURS.get(name.split('-')[0], 0)}m{label}\033[0m"
        self.out.write(f"{label}| {line}\n")
        self.out.flush()

    async def start(self, child: Child) -> None:
        child.process = await asyncio.create_subprocess_exec(
            *child.argv,
            env=child.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # our own signal handling decides when children stop
            preexec_fn=die_with_parent(),
        )
        child.started_at = time.monotonic()
        child.pump = asyncio.create_task(self._pump(child, child.process))

    async def _pump(self, child: Child, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            self.say(child.name, raw.decode("utf-8", "replace").rstrip())

    async def wait_ready(self, child: Child, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline and not self.stopping.is_set():
                if child.process is None or child.process.returncode is not None:
                    return False
                if child.url is None:
                    host, port = (child.address or "").rsplit(":", 1)
                    if port_open(host, int(port)):
                        return True
                elif child.shares_port:
                    if await self._replica_ready(child):
                        return True
                else:
                    with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                        async with session.get(f"{child.url}/readyz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                            if r.status == 200:
                                return True
                await asyncio.sleep(0.2)
        return False

    @staticmethod
    async def _replica_ready(child: Child) -> bool:
        """/readyz of this very replica: replicas share the port, and the kernel picks one per connection.

        One connection per try (a new source port, so possibly another replica), /livez names the
        process that took it, and /readyz follows on the same kept-alive connection.
        """
        assert child.process is not None and child.url is not None
        timeout = aiohttp.ClientTimeout(total=2)
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError):
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=timeout) as one:
                async with one.get(f"{child.url}/livez") as r:
                    if r.status != 200 or (await r.json())["pid"] != child.process.pid:
                        return False
                async with one.get(f"{child.url}/readyz") as r:
                    return r.status == 200
        return False

    async def watch(self) -> None:
        """Restart children that exit, with backoff; a child that ran a while starts fresh."""
        while not self.stopping.is_set():
            for child in self.children:
                process = child.process
                if process is None or process.returncode is None:
                    continue
                if self.stopping.is_set():
                    return
                uptime = time.monotonic() - child.started_at
                child.restarts = 0 if uptime > 30 else child.restarts + 1
                delay = min(0.5 * 2**child.restarts, 10.0)
                self.say(child.name, f"exited with {process.returncode}; restarting in {delay:.1f}s")
                await asyncio.sleep(delay)
                if not self.stopping.is_set():
                    await self.start(child)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.5)

    async def stop_all(self, grace: float = 15.0) -> None:
        # Services and gateway first, broker and sink last: services flush their outboxes while they are up.
        await self._stop([c for c in self.children if c.name not in INFRASTRUCTURE], grace)
        await self._stop([c for c in self.children if c.name in INFRASTRUCTURE], 5.0)

    async def _stop(self, children: list[Child], grace: float) -> None:
        running = [c for c in children if c.process and c.process.returncode is None]
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in children:
            if child.process is None:
                continue
            try:
                await asyncio.wait_for(child.process.wait(), max(deadline - time.monotonic(), 0.1))
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                await child.process.wait()
            if child.pump:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(child.pump, 1.0)


def mail_folder(settings: Settings) -> Path:
    """Where the dev SMTP sink writes its .eml files."""
    return settings.data_dir / "mail"


def plan(settings: Settings, env: dict[str, str]) -> tuple[list[Child], str, bool]:
    """The children to run and their environment; returns (children, bootstrap, embedded)."""
    python = sys.executable
    base_env = {**env, "PYTHONUNBUFFERED": "1"}
    external = env.get("KAFKA_BOOTSTRAP_SERVERS")
    broker_port = int(env.get("HANSE_BROKER_PORT", "9092"))
    bootstrap = external or f"127.0.0.1:{broker_port}"
    base_env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    children: list[Child] = []
    if not external:
        children.append(
            Child(
                "broker",
                [python, "-m", "ops.cli", "broker", "--port", str(broker_port)],
                dict(base_env),
                address=bootstrap,
            )
        )
    if not env.get("HANSE_SMTP_URL"):
        smtp_port = int(env.get("HANSE_SMTP_PORT", "8025"))
        base_env["HANSE_SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
        children.append(
            Child(
                "smtp",
                [
                    python,
                    "-m",
                    "ops.cli",
                    "smtp-sink",
                    "--port",
                    str(smtp_port),
                    "--dir",
                    str(mail_folder(settings).resolve()),
                ],
                dict(base_env),
                address=f"127.0.0.1:{smtp_port}",
            )
        )
    use_postgres = env.get("HANSE_DB", "sqlite") == "postgres"
    replicas = replicas_wanted(env)
    # Replicas of one service bind the same port; the kernel spreads connections over them.
    serve_flags = ["--reuse-port"] if replicas > 1 else []
    for name in DEPARTMENTS:
        port = service_port(name, settings.service_port_base)
        child_env = {**base_env, "HANSE_SERVICE": name}
        if name == "marketing":
            # The gateway appends the client address to X-Forwarded-For; marketing limits the lead form by it.
            child_env.setdefault("HANSE_BEHIND_GATEWAY", "true")
            # Links in marketing mail (confirm, unsubscribe) lead to this run's gateway.
            child_env.setdefault("HANSE_MARKETING_PUBLIC_URL", f"http://127.0.0.1:{settings.gateway_port}")
        if use_postgres:
            child_env["DATABASE_URL"] = settings.postgres_url_for(name)
        else:
            child_env.pop("DATABASE_URL", None)
        for index in range(1, replicas + 1):
            children.append(
                Child(
                    replica_name(name, index),
                    [python, "-m", "ops.cli", "serve", name, *serve_flags],
                    dict(child_env),
                    url=f"http://127.0.0.1:{port}",
                    shares_port=replicas > 1,
                )
            )
    gateway_env = {**base_env, "HANSE_SERVICE": "gateway"}
    if use_postgres:
        gateway_env["DATABASE_URL"] = settings.postgres_url_for("gateway")
    else:
        gateway_env.pop("DATABASE_URL", None)
    for index in range(1, replicas + 1):
        children.append(
            Child(
                replica_name("gateway", index),
                [python, "-m", "ops.cli", "serve", "gateway", *serve_flags],
                dict(gateway_env),
                url=f"http://127.0.0.1:{settings.gateway_port}",
                shares_port=replicas > 1,
            )
        )
    return children, bootstrap, not external


async def run_dev() -> int:
    settings = get_settings()
    env = dict(os.environ)
    env.setdefault("HANSE_ENV", settings.env)
    env["HANSE_DATA_DIR"] = str(settings.data_dir.resolve())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    admin_user, admin_password = settings.admin_login()
    env["HANSE_ADMIN_USER"], env["HANSE_ADMIN_PASSWORD"] = admin_user, admin_password
    env["HANSE_JWT_SECRET"] = settings.signing_secret()
    try:
        children, bootstrap, embedded = plan(settings, env)
    except ReplicasRefused as exc:
        print(f"hanse dev: {exc}", file=sys.stderr, flush=True)
        return 2
    supervisor = Supervisor(children)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, supervisor.stopping.set)

    try:
        for child in children:
            await supervisor.start(child)
            if child.name in INFRASTRUCTURE and not await supervisor.wait_ready(child, 30):
                supervisor.say(child.name, "did not start; is port in use?")
                return 1
        pending = [c for c in children if c.url]
        ready = await asyncio.gather(*(supervisor.wait_ready(c, 90) for c in pending))
        if supervisor.stopping.is_set():
            return 0
        _print_table(settings, children, bootstrap, embedded, admin_user, admin_password, ready, env)
        await supervisor.watch()
        return 0
    finally:
        supervisor.stopping.set()
        print("\nstopping Hanse ...", flush=True)
        await supervisor.stop_all()
        print("all processes stopped", flush=True)


def _print_table(settings, children, bootstrap, embedded, user, password, ready, env) -> None:
    services = [c for c in children if c.url]
    w = max([12, *(len(c.name) + 1 for c in services)])
    lines = ["", "Hanse is running" + ("" if all(ready) else " (some parts are not ready yet, see above)")]
    lines.append(f"  {'process':<{w}}{'url':<28}ready")
    for child, ok in zip(services, ready, strict=True):
        lines.append(f"  {child.name:<{w}}{child.url:<28}{'yes' if ok else 'NO'}")
    broker = f"{bootstrap} ({'embedded tansu, memory only' if embedded else 'external'})"
    lines.append(f"  {'broker':<{w}}{broker}")
    pg = settings.postgres_url_for("<service>").split("@")[-1]
    db = f"PostgreSQL {pg}" if env.get("HANSE_DB") == "postgres" else f"SQLite files in {settings.data_dir}"
    lines.append(f"  {'databases':<{w}}{db}")
    sink = next((c for c in children if c.name == "smtp"), None)
    if sink is not None:
        mail = f"{mail_folder(settings)}  (SMTP sink on {sink.address}, one .eml per message)"
    else:
        mail = f"{env.get('HANSE_SMTP_URL', '').split('@')[-1]} (external SMTP)"
    lines.append(f"  {'mail':<{w}}{mail}")
    gw = f"http://127.0.0.1:{settings.gateway_port}"
    lines.append("")
    lines.append(f"  console      {gw}/console/    (the operations console: sign in with the admin login)")
    lines.append(f"  API docs     {gw}/docs        (each service also has /docs, /openapi.json, /metrics)")
    saved = "" if os.environ.get("HANSE_ADMIN_PASSWORD") else f"   (saved in {settings.data_dir / 'admin-password'})"
    lines.append(f"  admin login  {user} / {password}{saved}")
    lines.append(f"  try          curl -s -X POST {gw}/api/v1/auth/token -d username={user} -d password=...")
    lines.append("  Ctrl-C stops everything.")
    print("\n".join(lines) + "\n", flush=True)

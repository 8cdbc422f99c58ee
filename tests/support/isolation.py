"""What keeps parallel test workers apart, and keeps a killed test run from leaving processes behind.

- `worker_id()`: the pytest-xdist worker ("gw0", "gw1", ...) or "main" without xdist.
- `free_port()`: a port nobody listens on, from a slice of the non-ephemeral range reserved for
  this worker, so that two workers never hand out the same port and an outgoing connection of
  this machine (those take ephemeral ports, 32768-60999 on Linux) cannot take it between the
  test choosing it and the server binding it.
- `unique_name(prefix)`: a PostgreSQL database name (or prefix) unique per worker and per call.
- Process lifetime lives in `ops.broker`: `die_with_parent()` (a `preexec_fn`) and
  `die_with_parent_now()` (xdist workers), so that a killed run takes its platforms with it.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid

# Ports below the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range starts at 32768):
# xdist worker gwN takes 20000+500N .. 20499+500N (N < 20); a run without xdist 30000-30999; a run
# started by a test (tests/e2e/test_run_cleanup.py) the range it is given in HANSE_TEST_PORT_RANGE.
WORKER_PORTS_FIRST = 20000
WORKER_SLICE = 500
WORKER_SLICES = 20
MAIN_PORTS = range(30000, 31000)
NESTED_PORTS = range(31000, 32700)


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def worker_index() -> int | None:
    worker = worker_id()
    if worker.startswith("gw") and worker[2:].isdigit():
        return int(worker[2:])
    return None


def unique_name(prefix: str, length: int = 10) -> str:
    """`<prefix>_<worker>_<random>`: a PostgreSQL identifier nobody else in this test run (or another) uses."""
    return f"{prefix}_{worker_id().lower()}_{uuid.uuid4().hex[:length]}"


def _port_slice() -> range:
    given = os.environ.get("HANSE_TEST_PORT_RANGE")
    if given:
        first, last = (int(p) for p in given.split("-"))
        return range(first, last + 1)
    index = worker_index()
    if index is not None and index < WORKER_SLICES:
        start = WORKER_PORTS_FIRST + index * WORKER_SLICE
        return range(start, start + WORKER_SLICE)
    return MAIN_PORTS


_lock = threading.Lock()
_next: dict[int, int] = {}


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """The next free port of this worker's slice (round robin, so a port just used rests a while)."""
    ports = _port_slice()
    with _lock:
        key = ports.start
        offset = _next.get(key, (os.getpid() * 7) % len(ports))
        for step in range(len(ports)):
            port = ports.start + (offset + step) % len(ports)
            if port_is_free(port):
                _next[key] = (offset + step + 1) % len(ports)
                return port
    # The slice is exhausted (unlikely): fall back to an ephemeral port from the kernel.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_block(size: int) -> int:
    """A base port such that base+1 .. base+size are all free (the platform's service ports)."""
    ports = _port_slice()
    with _lock:
        key = ports.start
        offset = _next.get(key, (os.getpid() * 7) % len(ports))
        for step in range(len(ports)):
            base = ports.start + (offset + step) % len(ports)
            if base + size >= ports.stop:
                continue
            if all(port_is_free(p) for p in range(base + 1, base + size + 1)):
                _next[key] = (base + size + 1 - ports.start) % len(ports)
                return base
    raise RuntimeError(f"no block of {size} free ports in {ports}")

"""A test run that is killed outright leaves no process of its platform behind.

Each test here runs a small pytest session in a subprocess whose one test starts the platform
through the `platform` fixture (the same fixture the e2e tests use), writes down every process
under that session and every port the platform listens on, and then waits. Once that report
is written, the test SIGKILLs the pytest process (or an xdist worker, or the xdist controller)
and asserts that within a few seconds none of those processes is alive and none of the ports
is listening.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ops.broker import port_open
from tests.e2e.conftest import alive
from tests.support.isolation import NESTED_PORTS

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GONE_WITHIN = 20.0  # seconds: SIGTERM, then each service's graceful stop

INNER_CONFTEST = """
pytest_plugins = ["tests.conftest", "tests.e2e.conftest"]
"""

INNER_TEST = """
import json
import os
import time
from pathlib import Path


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(proc.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_hold_the_platform(platform):
    ports = [int(url.rsplit(":", 1)[1]) for url in [*platform.services.values(), platform.gateway]]
    ports.append(int(platform.bootstrap.rsplit(":", 1)[1]))
    report = {
        "pytest": os.getpid(),
        "parent": os.getppid(),
        "supervisor": platform.process.pid,
        "services": platform.pids(),
        "processes": descendants(os.getpid()),
        "ports": ports,
    }
    out = Path(os.environ["CLEANUP_REPORT"])
    out.with_suffix(".tmp").write_text(json.dumps(report))
    out.with_suffix(".tmp").rename(out)
    time.sleep(600)
"""


def run_inner(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    (tmp_path / "test_hold.py").write_text(textwrap.dedent(INNER_TEST))
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        CLEANUP_REPORT=str(report),
        # Its own ports, apart from this run's workers (tests/support/isolation.py).
        HANSE_TEST_PORT_RANGE=f"{NESTED_PORTS.start}-{NESTED_PORTS.stop - 1}",
    )
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    argv += ["--rootdir", str(tmp_path), "-c", os.devnull, "--basetemp", str(tmp_path / "inner"), *args]
    process = subprocess.Popen(
        [*argv, str(tmp_path / "test_hold.py")],
        cwd=tmp_path,
        env=env,
        stdout=open(tmp_path / "inner.log", "wb"),  # closed when the process ends
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    return process, report


def wait_for_report(process: subprocess.Popen, report: Path, tmp_path: Path, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if report.exists():
            return json.loads(report.read_text())
        if process.poll() is not None:
            break
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()
    log = (tmp_path / "inner.log").read_text(errors="replace")
    pytest.fail(f"the inner test run never reported its platform:\n{log[-5000:]}")


def assert_all_gone(report: dict, started: float) -> float:
    pids = {report["supervisor"], *report["services"].values(), *report["processes"]}
    while time.monotonic() - started < GONE_WITHIN:
        if not any(alive(p) for p in pids) and not any(port_open("127.0.0.1", p) for p in report["ports"]):
            return time.monotonic() - started
        time.sleep(0.1)
    left = sorted(p for p in pids if alive(p))
    listening = [p for p in report["ports"] if port_open("127.0.0.1", p)]
    for pid in left:  # clean up after a failure, then say what was left
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    commands = {p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode() for p in left if alive(p)}
    raise AssertionError(f"left behind after {GONE_WITHIN}s: pids {left} {commands}, listening ports {listening}")


def test_a_killed_pytest_run_takes_its_platform_with_it(tmp_path: Path):
    process, report_path = run_inner(tmp_path)
    report = wait_for_report(process, report_path, tmp_path)
    assert report["pytest"] == process.pid
    assert len(report["services"]) == len(report["ports"]) - 1, report  # every service and the gateway are up
    os.kill(process.pid, signal.SIGKILL)
    started = time.monotonic()
    process.wait()
    assert_all_gone(report, started)


@pytest.mark.parametrize("victim", ["worker", "controller"])
def test_a_killed_xdist_worker_or_controller_takes_its_platform_with_it(tmp_path: Path, victim: str):
    process, report_path = run_inner(tmp_path, "-n", "1")
    try:
        report = wait_for_report(process, report_path, tmp_path)
        assert report["parent"] == process.pid, "the inner test did not run in an xdist worker"
        os.kill(report["pytest"] if victim == "worker" else process.pid, signal.SIGKILL)
        started = time.monotonic()
        assert_all_gone({**report, "processes": [report["pytest"], *report["processes"]]}, started)
    finally:
        if process.poll() is None:
            process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(30)
        if process.poll() is None:
            process.kill()
            process.wait()

"""`hanse demo` walks the golden path against a running platform and says where it stopped when it cannot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ops.broker import die_with_parent
from tests.conftest import free_port
from tests.e2e.conftest import Platform

pytestmark = pytest.mark.e2e

STEPS = [
    ("logistics", "open a warehouse"),
    ("sales", "sales.product.created"),
    ("logistics", "logistics.stock.received"),
    ("marketing", "marketing.campaign.created"),
    ("marketing", "marketing.lead.captured"),
    ("compliance", "compliance.screening.completed"),
    ("marketing", "marketing.lead.qualified"),
    ("sales", "sales.account.created"),
    ("marketing", "marketing.lead.converted"),
    ("sales", "sales.quote.issued"),
    ("sales", "sales.order.placed"),
    ("compliance", "compliance.order.cleared"),
    ("logistics", "logistics.stock.reserved"),
    ("finance", "finance.invoice.issued"),
    ("finance", "finance.invoice.paid"),
    ("logistics", "logistics.shipment.booked"),
    ("logistics", "logistics.shipment.dispatched"),
    ("logistics", "logistics.shipment.delivered"),
    ("marketing", "credits the paid revenue"),
]


def demo(gateway: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HANSE_")}
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", "demo", "--gateway", gateway],
        env={**clean, "PYTHONIOENCODING": "utf-8", **env},
        capture_output=True,
        text=True,
        timeout=240,
        preexec_fn=die_with_parent(),  # a killed test run takes the command with it
    )


def test_demo_walks_the_golden_path_step_by_step_until_the_order_completes(platform: Platform):
    run = demo(platform.gateway, HANSE_ADMIN_PASSWORD=platform.admin_password)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    done = [line for line in lines if line.lstrip().startswith("✓")]
    assert len(done) == len(STEPS) + 1, run.stdout  # + the login
    for line, (department, what) in zip(done[1:], STEPS, strict=True):
        assert line.split()[1] == department and what in line, line
    assert "completed" in lines[-1] and "ord_" in lines[-1]
    assert "HTTP Request" not in run.stderr, "one line per step, not one per request"


def test_demo_names_the_step_and_department_that_timed_out(platform: Platform, tmp_path: Path):
    # The password saved by `make dev` in the data dir is used when HANSE_ADMIN_PASSWORD is unset.
    (tmp_path / "admin-password").write_text(platform.admin_password + "\n")
    run = demo(platform.gateway, HANSE_DATA_DIR=str(tmp_path), HANSE_DEMO_TIMEOUT="0")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "demo failed at step 7, compliance: screens the lead" in run.stdout
    assert "timed out after 0 s waiting for compliance" in run.stdout
    assert "✗  compliance" in run.stdout


def test_demo_without_a_running_gateway_says_so(tmp_path: Path):
    run = demo(
        f"http://127.0.0.1:{free_port()}", HANSE_ADMIN_PASSWORD="whatever-password", HANSE_DATA_DIR=str(tmp_path)
    )
    assert run.returncode == 2
    assert "cannot reach the gateway" in run.stdout and "make dev" in run.stdout
    missing = demo(f"http://127.0.0.1:{free_port()}", HANSE_DATA_DIR=str(tmp_path))
    assert missing.returncode == 2 and "no admin password" in missing.stdout

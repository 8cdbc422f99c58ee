"""`hanse dev` with HANSE_REPLICAS: which processes it plans, and what it refuses (docs/replicas.md)."""

from __future__ import annotations

import pytest

from hanse.settings import Settings
from ops.dev import ReplicasRefused, plan, replicas_wanted
from services import DEPARTMENTS

PROCESSES = (*DEPARTMENTS, "gateway")


def _plan(**env: str):
    settings = Settings(env="dev", db=env.get("HANSE_DB", "sqlite"))
    children, _, _ = plan(settings, {"HANSE_SMTP_URL": "smtp://127.0.0.1:25", **env})
    return [c for c in children if c.url]


def test_two_replicas_on_postgres_run_two_processes_of_each_service_on_one_port():
    served = _plan(HANSE_DB="postgres", HANSE_REPLICAS="2")
    names = [c.name for c in served]
    assert names == [n for p in PROCESSES for n in (p, f"{p}-2")]
    by_service: dict[str, set[str]] = {}
    for child in served:
        assert child.argv[-1] == "--reuse-port" and child.shares_port
        by_service.setdefault(child.argv[-2], set()).add(child.url)
    assert all(len(urls) == 1 for urls in by_service.values()), by_service
    assert set(by_service) == set(PROCESSES)


def test_one_replica_is_the_default_and_binds_its_port_alone():
    served = _plan()
    assert [c.name for c in served] == list(PROCESSES)
    assert not any("--reuse-port" in c.argv or c.shares_port for c in served)


def test_replicas_on_sqlite_are_refused_with_the_reason():
    with pytest.raises(ReplicasRefused, match="needs PostgreSQL"):
        replicas_wanted({"HANSE_REPLICAS": "2"})


@pytest.mark.parametrize("value", ["0", "5", "two", "-1"])
def test_a_replica_count_out_of_range_is_refused(value):
    with pytest.raises(ReplicasRefused, match="HANSE_REPLICAS"):
        replicas_wanted({"HANSE_REPLICAS": value, "HANSE_DB": "postgres"})

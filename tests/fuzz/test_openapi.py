"""Schemathesis against each service's and the gateway's OpenAPI on a live platform: no 500, no answer off schema."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from services import DEPARTMENTS
from tests.e2e.conftest import Platform, start_platform, stop_platform

pytestmark = pytest.mark.e2e

# Examples per operation and generation mode; derandomized, so a run is reproducible. Ten keep every
# operation's bad-input and good-input cases while the module fits `make test`'s budget (25 took
# 19 of its 29 minutes on the 2-core machine); HANSE_FUZZ_EXAMPLES=100 for a deeper run.
EXAMPLES = int(os.environ.get("HANSE_FUZZ_EXAMPLES", "10"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as generated
    suppress_health_check=list(HealthCheck),
)
TARGETS = (
    *DEPARTMENTS,
    "gateway",
)  # Server-sent events stream until the client leaves: each call would wait out its timeout. Its filters
# are those of GET /api/v1/events, which is fuzzed.
NOT_FUZZED = {("GET", "/api/v1/events/stream")}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A platform of this module's own: the fuzzer fills its databases with random records."""
    platform = start_platform(tmp_path_factory.mktemp("fuzz"), {"HANSE_LEAD_RATE_LIMIT": "100000/minute"})
    yield platform
    stop_platform(platform)


def problem_json_on_4xx(response: schemathesis.Response) -> None:
    if 400 <= response.status_code < 500:
        kind = (response.headers.get("content-type") or [""])[0]
        assert kind.startswith("application/problem+json"), f"{response.status_code} answered as {kind!r}"


def fuzz_operation(operation, base_url: str, headers: dict[str, str], mode: GenerationMode) -> None:
    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
        problem_json_on_4xx(response)

    run()


# Two halves of about equal time, each a group with a platform of its own, so two workers share the fuzzing.
HALVES = {"logistics": "fuzz-1", "sales": "fuzz-1", "procurement": "fuzz-1"}


@pytest.mark.parametrize(
    "target", [pytest.param(t, marks=pytest.mark.xdist_group(HALVES.get(t, "fuzz-2"))) for t in TARGETS]
)
def test_no_input_makes_a_500_or_an_answer_outside_its_schema(fuzzed: Platform, target: str):
    base_url = fuzzed.gateway if target == "gateway" else fuzzed.services[target]
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {fuzzed.token()}"}
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        # The gateway's copy of a department route is fuzzed at the department itself.
        if target == "gateway" and any(operation.path.startswith(f"/api/v1/{d}/") for d in DEPARTMENTS):
            continue
        if (operation.method.upper(), operation.path) in NOT_FUZZED:
            continue
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(operation, base_url, headers, mode)
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE, operation.path  # nothing to get wrong: no parameters
            except Exception as exc:  # collect every operation's failure, not just the first
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"[:3000])
    assert operations > 0
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)

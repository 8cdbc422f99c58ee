"""The Dockerfile, parsed: multi-stage, slim and unprivileged at run time, health-checked, lean build context."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BUILD_TOOLS = ("build-essential", "gcc", "g++", "make", "clang", "libc6-dev", "python3-dev", "git", "curl", "wget")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Instructions with continuation lines joined; ARGs before the first FROM; one Stage per FROM."""
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in logical:
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages:
            if keyword == "ARG":
                key, _, value = rest.partition("=")
                args[key] = value
        else:
            stages[-1].instructions.append((keyword, rest.strip()))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text())[1]


def test_the_image_is_built_in_stages_from_a_pinned_python_slim(stages):
    assert len(stages) >= 2, "a builder stage and a runtime stage"
    for stage in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", stage.base), stage.base
    assert stages[0].name == "builder" and stages[-1].name == "runtime"


def test_dependencies_are_installed_into_a_venv_in_the_builder_and_copied_over(stages):
    builder, runtime = stages[0], stages[-1]
    runs = " ".join(builder.all("RUN"))
    assert "python -m venv /opt/venv" in runs
    assert "--constraint requirements/lock.txt" in runs, "the lock pins every transitive version"
    assert "pip install --no-deps ." in runs
    assert any(c.startswith("--from=builder /opt/venv /opt/venv") for c in runtime.all("COPY"))


def test_the_runtime_stage_has_no_build_tools(stages):
    runtime = stages[-1]
    for run in runtime.all("RUN"):
        words = set(shlex.split(run.replace("&&", " ")))
        assert not words & set(BUILD_TOOLS), f"build tools in the runtime stage: {run}"
        assert "pip" not in words, "nothing is installed at run-time stage; the venv comes from the builder"
    assert not any(src for src in runtime.all("COPY") if not src.startswith("--from=")), "runtime copies from builder"


def test_the_runtime_user_is_numeric_and_not_root(stages):
    users = stages[-1].all("USER")
    assert users, "USER missing in the runtime stage"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) >= 10000, "a numeric UID lets Kubernetes verify runAsNonRoot"
    assert not gid or (gid.isdigit() and int(gid) != 0)


def test_health_ports_environment_and_entrypoint(stages):
    runtime = stages[-1]
    (healthcheck,) = runtime.all("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    probe = json.loads(command)
    assert probe[:2] == ["python", "-c"] and "/livez" in probe[2] and "urllib" in probe[2]
    compile(probe[2], "healthcheck", "exec")
    assert runtime.all("EXPOSE") == ["8080"]
    env = " ".join(runtime.all("ENV"))
    for setting in ("HANSE_ENV=prod", "HANSE_HOST=0.0.0.0", "HANSE_PORT=8080", "PYTHONUNBUFFERED=1"):
        assert setting in env, setting
    assert json.loads(runtime.all("ENTRYPOINT")[0]) == ["hanse"]
    assert json.loads(runtime.all("CMD")[0]) == ["serve"]


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_else(stages):
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and line[0] != "#"
    ]

    def included(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            glob = pattern.lstrip("!")
            if fnmatch.fnmatch(path, glob) or fnmatch.fnmatch(path, glob.replace("/**", "")):
                keep = negated
        return keep

    sources = []
    for stage in stages:
        for copy in stage.all("COPY"):
            if not copy.startswith("--from="):
                sources += copy.split()[:-1]
    assert sources, "no COPY from the build context"
    for source in sources:
        assert (ROOT / source).exists(), source
        assert included(source), f"{source} is excluded by .dockerignore"
    for unwanted in (".venv/bin/python", "var/sales.db", "tests/conftest.py", ".git/HEAD", "hanse/__pycache__/x.pyc"):
        assert not included(unwanted), f"{unwanted} would be sent to the build"

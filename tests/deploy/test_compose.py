"""docker compose, offline: the file validates against the Compose Specification and its parts fit together."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic_settings import BaseSettings

from hanse.settings import Settings
from ops.migrate import SERVICES
from services import DEPARTMENTS

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
SECRETS = ("POSTGRES_PASSWORD", "HANSE_JWT_SECRET", "HANSE_ADMIN_PASSWORD")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; $$ is a literal $.
VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class MissingVariable(Exception):
    pass


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution, applied to every string of the parsed file."""
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if not isinstance(node, str):
        return node

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3)
        value = env.get(name)
        unset_or_empty = value is None or (value == "" and operator and operator.startswith(":"))
        if operator in (":-", "-"):
            return argument if unset_or_empty else value
        if operator in (":?", "?"):
            if unset_or_empty:
                raise MissingVariable(f"{name}: {argument}")
            return value
        return value or ""

    return VARIABLE.sub(substitute, node)


def referenced_variables(text: str) -> set[str]:
    return {m.group(1) or m.group(4) for m in VARIABLE.finditer(text) if m.group(0) != "$$"}


def filled_env() -> dict[str, str]:
    env = read_env_file(ENV_EXAMPLE)
    for secret in SECRETS:
        env[secret] = f"test-{secret.lower()}-" + "x" * 40
    return env


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose(raw) -> dict[str, Any]:
    return interpolate(raw, filled_env())


def compose_schema() -> dict[str, Any]:
    # The Compose Specification schema, vendored by check-jsonschema (no network in tests).
    source = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    return json.loads(source.read_text())


def test_the_rendered_file_is_valid_against_the_compose_specification(compose):
    schema = compose_schema()
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_check_would_catch_a_mistake(compose):
    broken = json.loads(json.dumps(compose))
    broken["services"]["sales"]["depends_on"]["kafka"]["condition"] = "service_ready"
    assert list(jsonschema.Draft7Validator(compose_schema()).iter_errors(broken))


def test_every_variable_the_file_uses_is_in_the_env_example_and_secrets_have_no_working_default():
    example = read_env_file(ENV_EXAMPLE)
    used = referenced_variables(COMPOSE_FILE.read_text())
    assert used <= set(example), f"missing from .env.example: {sorted(used - set(example))}"
    for secret in SECRETS:
        assert example.get(secret) == "", f"{secret} must be empty in .env.example"
    # As shipped (secrets empty) compose refuses to start rather than run with a guessable password.
    with pytest.raises(MissingVariable, match="POSTGRES_PASSWORD"):
        interpolate(yaml.safe_load(COMPOSE_FILE.read_text()), example)


def known_environment_variables() -> set[str]:
    """Every variable a Hanse process reads: the pydantic-settings classes and the CLI's own."""
    classes = [Settings]
    for dept in DEPARTMENTS:
        module = importlib.import_module(f"services.{dept}.domain")
        classes += [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, BaseSettings)]
    names = {"HANSE_LOG_LEVEL", "HANSE_HOST", "HANSE_PORT", "HANSE_BROKER_PORT", "HANSE_GATEWAY_URL"}
    for cls in classes:
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            names.add(alias if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


def test_env_example_names_only_real_settings():
    known = known_environment_variables() | referenced_variables(COMPOSE_FILE.read_text())
    for name in read_env_file(ENV_EXAMPLE):
        if name.startswith(("HANSE_", "KAFKA_", "DATABASE_")):
            assert name in known, f"{name} in .env.example is not read by Hanse (typo?)"


def test_dependencies_exist_wait_for_health_or_completion_and_every_long_runner_has_a_healthcheck(compose):
    services = compose["services"]
    one_shot = {name for name, s in services.items() if s.get("restart") == "no"}
    assert one_shot == {"migrate", "topics"}
    for name, service in services.items():
        healthcheck = service.get("healthcheck", {})
        if "profiles" in service:
            continue  # optional tools (the collector): nothing depends on them (see the collector's test)
        if name in one_shot:
            assert healthcheck.get("disable") is True, name
        else:
            assert healthcheck.get("test") and not healthcheck.get("disable"), f"{name} has no healthcheck"
        for target, rule in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            expected = "service_completed_successfully" if target in one_shot else "service_healthy"
            assert rule["condition"] == expected, f"{name} -> {target}"
    for dept in DEPARTMENTS:
        needs = services[dept]["depends_on"]
        assert {"migrate", "topics", "kafka"} <= set(needs), dept
        assert dept in services["gateway"]["depends_on"]
    assert "postgres" in services["migrate"]["depends_on"] and "kafka" in services["topics"]["depends_on"]


def test_each_process_runs_its_own_name_and_the_gateway_reaches_every_department(compose):
    services = compose["services"]
    for process in SERVICES:
        env = services[process]["environment"]
        assert env["HANSE_SERVICE"] == process
        assert env["HANSE_DB"] == "postgres" and env["HANSE_POSTGRES_BASE"].endswith("@postgres:5432")
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert services[process]["read_only"] is True and services[process]["cap_drop"] == ["ALL"]
    for dept in DEPARTMENTS:
        url = services["gateway"]["environment"][f"HANSE_{dept.upper()}_URL"]
        assert url == f"http://{dept}:8080"
    assert services["migrate"]["command"] == ["migrate", "all"]
    assert services["topics"]["command"] == ["topics"]
    assert any(p.endswith(":8080") for p in services["gateway"]["ports"])


def test_images_are_pinned_volumes_declared_and_mounted_files_present(compose):
    for name, service in compose["services"].items():
        if "build" in service:
            build = service["build"]
            context = (COMPOSE_DIR / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), name
            continue
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", image), f"{name}: pin a version tag, not {image!r}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"


def test_postgres_init_creates_the_database_of_every_service():
    script = (COMPOSE_DIR / "postgres-init" / "10-hanse-databases.sh").read_text()
    services = re.search(r"for service in ([a-z ]+); do", script).group(1).split()
    settings = Settings(env="dev", db="postgres")
    assert {f"hanse_{s}" for s in services} == {settings.postgres_url_for(s).rsplit("/", 1)[1] for s in SERVICES}


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker is not installed")
def test_docker_compose_config_accepts_the_file_when_the_compose_plugin_is_there(tmp_path: Path):
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    # A copy, so the .env that compose requires next to the file is not written into the repository.
    copy = shutil.copytree(COMPOSE_DIR, tmp_path / "deploy" / "compose")
    shutil.copy(COMPOSE_DIR.parent / "Dockerfile", tmp_path / "deploy" / "Dockerfile")
    (copy / ".env").write_text("".join(f"{k}={v}\n" for k, v in filled_env().items()))
    result = subprocess.run(
        ["docker", "compose", "-f", str(copy / "compose.yaml"), "config", "--quiet"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_optional_collector_receives_the_traces_that_every_process_sends_only_when_asked(compose):
    services = compose["services"]
    collector = services["otel-collector"]
    assert collector["profiles"] == ["observability"]  # `docker compose up` alone does not start it
    config = yaml.safe_load((COMPOSE_DIR / "otel-collector.yaml").read_text())
    mounted = {v.split(":")[1]: v.split(":")[0] for v in collector["volumes"]}
    assert mounted["/etc/otelcol/config.yaml"] == "./otel-collector.yaml"
    assert "--config=/etc/otelcol/config.yaml" in collector["command"]
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"] and set(pipeline["exporters"]) <= set(config["exporters"])
    port = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].rsplit(":", 1)[1]
    for process in SERVICES:
        env = services[process]["environment"]
        # Off as shipped (.env.example); `otlp` in .env sends to the collector's OTLP/HTTP port.
        assert env["OTEL_TRACES_EXPORTER"] == "none", process
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://otel-collector:{port}", process
        # Tracing is best effort: no service waits for a collector that may not run.
        assert "otel-collector" not in services[process].get("depends_on", {}), process
    switched_on = interpolate(
        yaml.safe_load(COMPOSE_FILE.read_text()), {**filled_env(), "OTEL_TRACES_EXPORTER": "otlp"}
    )
    assert all(switched_on["services"][p]["environment"]["OTEL_TRACES_EXPORTER"] == "otlp" for p in SERVICES)

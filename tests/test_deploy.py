"""Deploy files (deploy/) parse and say what the daemon needs.

No daemon, no cluster: YAML is loaded and checked field by field, the Dockerfile goes
through a small lint implemented here (each rule also shown to fire on a bad example),
the healthcheck one-liners run against a loopback HTTP server, and the systemd unit goes
through ``systemd-analyze verify`` where that tool exists.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from syncer.app.settings import load_settings, parse_database_url

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
DOCKERFILE = DEPLOY / "Dockerfile"
UNIT = DEPLOY / "stripe-nrr.service"
APP_UID = 10001
# Settings that must never sit in a ConfigMap or an image layer.
SECRET_SETTINGS = {
    "STRIPE_API_KEY",
    "DATABASE_URL",
    "SMTP_PASSWORD",
    "SLACK_BOT_TOKEN",
    "SLACK_WEBHOOK_URL",
    "WEB_PASSWORD_HASH",
}
SETTING_LINE = re.compile(r"^#?[ \t]*([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def _yaml(path: Path) -> Any:
    yaml = pytest.importorskip("yaml", reason="pyyaml>=6 (dev extra) parses the deploy YAML")
    return yaml.safe_load(path.read_text())


def _env_example_settings() -> set[str]:
    """Every NAME in a `NAME=` or `# NAME=` line of .env.example."""
    return set(SETTING_LINE.findall((ROOT / ".env.example").read_text()))


def test_env_example_parse_finds_the_settings() -> None:
    names = _env_example_settings()
    assert {
        "STRIPE_API_KEY",
        "DATABASE_URL",
        "HEALTH_PORT",
        "REPORT_SCHEDULE",
        "LOG_FORMAT",
    } <= names
    # Prose lines such as "# Sender address, e.g. …" must not leak in.
    assert all(name.isupper() for name in names)


# --------------------------------------------------------------------------- Dockerfile


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """Instructions grouped by build stage; continuation lines joined, comments dropped."""
    stages: list[list[Instruction]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker also skips comment lines inside a continuation
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, args = " ".join(pending).partition(" ")
        pending = []
        instruction = Instruction(start, keyword.upper(), args.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        if not stages:
            raise ValueError(f"line {start}: {instruction.keyword} before the first FROM")
        stages[-1].append(instruction)
    return stages


def _env_pairs(args: str) -> dict[str, str]:
    words = shlex.split(args)
    if words and "=" not in words[0]:  # legacy `ENV KEY value`
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def _from_image_problem(args: str, stage_names: set[str]) -> str | None:
    words = [w for w in args.split() if not w.startswith("--")]
    image = words[0]
    if image in stage_names or image == "scratch":
        return None
    if "@sha256:" in image:
        return None
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag at all (a colon, if any, was a registry port)
        return f"FROM {image}: pin a version tag (e.g. python:3.11-slim-bookworm)"
    if tag == "latest" or not re.search(r"\d", tag):
        return f"FROM {image}: tag {tag!r} is not a pinned version"
    return None


def _exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


def lint_dockerfile(text: str) -> list[str]:
    """Problems in a Dockerfile for the stripe-nrr daemon image (empty list = clean)."""
    stages = parse_dockerfile(text)
    problems: list[str] = []
    stage_names: set[str] = set()
    for stage in stages:
        problem = _from_image_problem(stage[0].args, stage_names)
        if problem:
            problems.append(problem)
        words = stage[0].args.split()
        if len(words) >= 3 and words[-2].upper() == "AS":
            stage_names.add(words[-1])
        for ins in stage:
            if ins.keyword == "ADD" and re.search(r"https?://", ins.args):
                problems.append(f"line {ins.line}: ADD of a URL; download in a RUN and verify it")
            if ins.keyword != "RUN":
                continue
            if "apt-get install" in ins.args:
                if "--no-install-recommends" not in ins.args:
                    problems.append(
                        f"line {ins.line}: apt-get install without --no-install-recommends"
                    )
                if "rm -rf /var/lib/apt/lists" not in ins.args:
                    problems.append(
                        f"line {ins.line}: apt-get install without removing /var/lib/apt/lists"
                    )
            if re.search(r"pip3? (install|wheel)", ins.args) and "--no-cache-dir" not in ins.args:
                problems.append(f"line {ins.line}: pip without --no-cache-dir")

    final = stages[-1]
    positions = {ins.keyword: i for i, ins in enumerate(final)}  # last occurrence wins
    users = [ins for ins in final if ins.keyword == "USER"]
    if not users or users[-1].args.split(":")[0] in ("root", "0"):
        problems.append("final stage runs as root; add USER with a fixed non-root uid")
    elif any(
        positions.get(k, -1) < positions["USER"] for k in ("ENTRYPOINT", "CMD") if k in positions
    ):
        problems.append("USER comes after ENTRYPOINT/CMD; set it before them")

    checks = [ins for ins in final if ins.keyword == "HEALTHCHECK"]
    if not checks or checks[-1].args.upper() == "NONE":
        problems.append("no HEALTHCHECK")
    elif "/healthz" not in checks[-1].args:
        problems.append("HEALTHCHECK does not call /healthz")
    elif re.search(r"\b(curl|wget)\b", checks[-1].args):
        problems.append("HEALTHCHECK uses curl/wget, which the slim image does not have")

    entrypoint = [_exec_form(i.args) for i in final if i.keyword == "ENTRYPOINT"]
    cmd = [_exec_form(i.args) for i in final if i.keyword == "CMD"]
    if not entrypoint or entrypoint[-1] != ["nrr"]:
        problems.append('ENTRYPOINT must be ["nrr"] (exec form)')
    if not cmd or cmd[-1] != ["run"]:
        problems.append('CMD must be ["run"] (exec form)')

    env: dict[str, str] = {}
    for ins in final:
        if ins.keyword == "ENV":
            env.update(_env_pairs(ins.args))
    exposed = {
        word.split("/")[0] for i in final if i.keyword == "EXPOSE" for word in i.args.split()
    }
    if env.get("HEALTH_PORT") not in exposed:
        problems.append(
            f"EXPOSE {sorted(exposed)} does not include HEALTH_PORT={env.get('HEALTH_PORT')}"
        )
    return problems


def _final_stage() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())[-1]


def _final_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in _final_stage():
        if ins.keyword == "ENV":
            env.update(_env_pairs(ins.args))
    return env


def test_dockerfile_passes_the_lint() -> None:
    assert lint_dockerfile(DOCKERFILE.read_text()) == []


GOOD = """\
FROM python:3.11-slim-bookworm
ENV HEALTH_PORT=8080
USER 10001
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
ENTRYPOINT ["nrr"]
CMD ["run"]
"""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("python:3.11-slim-bookworm", "python:latest", "not a pinned version"),
        ("python:3.11-slim-bookworm", "python", "pin a version tag"),
        ("python:3.11-slim-bookworm", "localhost:5000/python", "pin a version tag"),
        ("USER 10001", "USER root", "runs as root"),
        ("USER 10001", "USER 0:0", "runs as root"),
        ("USER 10001\n", "", "runs as root"),
        ("EXPOSE 8080", "EXPOSE 9000", "does not include HEALTH_PORT=8080"),
        ("/healthz", "/", "does not call /healthz"),
        ("python -c", "curl -f http://127.0.0.1:8080/healthz || python -c", "curl/wget"),
        ('CMD ["run"]', "CMD run", 'CMD must be ["run"]'),
        (
            'ENTRYPOINT ["nrr"]',
            'ENTRYPOINT ["python", "-m", "syncer"]',
            'ENTRYPOINT must be ["nrr"]',
        ),
        ("EXPOSE", "ADD https://example.com/x.tgz /x\nEXPOSE", "ADD of a URL"),
        ("EXPOSE", "RUN pip install .\nEXPOSE", "pip without --no-cache-dir"),
        (
            "EXPOSE",
            "RUN apt-get update && \\\n    apt-get install -y tini\nEXPOSE",
            "--no-install-recommends",
        ),
        (
            "EXPOSE",
            "RUN apt-get update && apt-get install -y --no-install-recommends tini\nEXPOSE",
            "/var/lib/apt/lists",
        ),
    ],
)
def test_dockerfile_lint_rules_fire(old: str, new: str, expected: str) -> None:
    assert lint_dockerfile(GOOD) == []
    bad = GOOD.replace(old, new, 1)
    assert bad != GOOD
    assert any(expected in problem for problem in lint_dockerfile(bad)), lint_dockerfile(bad)


def test_dockerfile_lint_accepts_clean_apt_and_stage_references() -> None:
    text = (
        "FROM python:3.11-slim-bookworm AS build\n"
        "RUN pip wheel --no-cache-dir -w /w .\n"
        + GOOD.replace(
            "EXPOSE",
            "RUN apt-get update \\\n"
            "    # a comment inside a continuation\n"
            "    && apt-get install -y --no-install-recommends tini \\\n"
            "    && rm -rf /var/lib/apt/lists/*\nCOPY --from=build /w /w\nEXPOSE",
        )
    )
    assert lint_dockerfile(text) == []


def test_dockerfile_runtime_settings() -> None:
    env = _final_env()
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["LOG_FORMAT"] == "json"
    assert env["HEALTH_PORT"] == "8080"
    # The default database is on the data volume, which is also the working directory.
    assert parse_database_url(env["DATABASE_URL"]) == "sqlite:////data/stripe-nrr.db"
    stage = _final_stage()
    args = {ins.keyword: ins.args for ins in stage}  # last of each
    assert args["WORKDIR"] == "/data"
    assert "/data" in args["VOLUME"]
    assert args["STOPSIGNAL"] == "SIGTERM"
    assert args["USER"].split(":")[0] == str(APP_UID)
    # Not an app setting and not a secret: no Stripe key or password is baked in.
    assert not (set(env) & (SECRET_SETTINGS - {"DATABASE_URL"}))


def test_dockerfile_copies_what_exists_and_dockerignore_keeps_it() -> None:
    sources = [
        word
        for stage in parse_dockerfile(DOCKERFILE.read_text())
        for ins in stage
        if ins.keyword == "COPY" and "--from" not in ins.args
        for word in shlex.split(ins.args)[:-1]
    ]
    assert sources, "the build stage copies the package sources"
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(name: str) -> bool:
        result = False
        for pattern in patterns:  # later lines win, `!` re-includes
            negate = pattern.startswith("!")
            if fnmatch.fnmatch(name, pattern.lstrip("!").rstrip("/")):
                result = not negate
        return result

    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source.rstrip("/")), f"{source} is copied but .dockerignore drops it"
    for private in (".env", ".venv", ".git", "stripe-nrr.db", "demo-output", "tests"):
        assert ignored(private), f".dockerignore should exclude {private}"
    assert not ignored(".env.example")


# --------------------------------------------------------------------------- healthcheck one-liners


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = type(self).status if self.path == "/healthz" else 404
        body = json.dumps({"ok": code == 200}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    handler = type("Health", (_Health,), {"status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def _python_on_path(tmp_path: Path) -> dict[str, str]:
    """An environment whose `python` is this interpreter, as in the image."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def _run(argv: list[str], env: dict[str, str]) -> int:
    return subprocess.run(argv, check=False, env=env, capture_output=True, timeout=60).returncode


def _free_port() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return port


def test_docker_healthcheck_passes_on_200_and_fails_on_503_or_no_answer(
    health_server: tuple[int, type[_Health]], tmp_path: Path
) -> None:
    port, handler = health_server
    check = next(ins for ins in _final_stage() if ins.keyword == "HEALTHCHECK").args
    command = check[check.index("CMD ") + 4 :]  # shell form, run by /bin/sh in the image
    env = {**_python_on_path(tmp_path), "HEALTH_PORT": str(port)}
    assert _run(["/bin/sh", "-c", command], env) == 0
    handler.status = 503
    assert _run(["/bin/sh", "-c", command], env) != 0
    assert _run(["/bin/sh", "-c", command], {**env, "HEALTH_PORT": str(_free_port())}) != 0


# --------------------------------------------------------------------------- compose


def _compose() -> dict[str, Any]:
    data = _yaml(DEPLOY / "compose.yaml")
    assert isinstance(data, dict)
    return data


def _env_file_paths(service: dict[str, Any]) -> list[str]:
    entries = service.get("env_file", [])
    entries = [entries] if isinstance(entries, str) else entries
    return [e if isinstance(e, str) else e["path"] for e in entries]


def test_compose_app_service_runs_the_daemon_from_the_repo_image() -> None:
    app = _compose()["services"]["stripe-nrr"]
    build = app["build"]
    # Compose resolves paths from the compose file's directory.
    assert (DEPLOY / build["context"]).resolve() == ROOT
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    entrypoint = app.get("entrypoint", ["nrr"])
    command = app["command"]
    assert [*entrypoint, *([command] if isinstance(command, str) else command)] == ["nrr", "run"]
    assert [(DEPLOY / p).resolve() for p in _env_file_paths(app)] == [ROOT / ".env"]
    assert app["restart"] in ("unless-stopped", "always", "on-failure")
    assert app["stop_grace_period"] == "30s"
    assert app.get("stop_signal", "SIGTERM") == "SIGTERM"


def test_compose_app_uses_the_postgres_service_once_it_is_healthy() -> None:
    compose = _compose()
    app = compose["services"]["stripe-nrr"]
    url = app["environment"]["DATABASE_URL"]
    assert "${POSTGRES_PASSWORD:?" in url
    # With the variable substituted the URL is one the app accepts, aimed at the service.
    filled = re.sub(r"\$\{POSTGRES_PASSWORD:\?[^}]*\}", "s3cret", url)
    normalized = parse_database_url(filled)
    assert normalized.startswith("postgresql+psycopg://") and "@postgres:5432/" in normalized
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "postgres" in compose["services"]


def test_compose_app_healthcheck_calls_healthz_on_the_health_port(
    health_server: tuple[int, type[_Health]], tmp_path: Path
) -> None:
    port, handler = health_server
    app = _compose()["services"]["stripe-nrr"]
    test = app["healthcheck"]["test"]
    assert test[0] == "CMD" and "/healthz" in " ".join(test)
    health_port = app["environment"].get("HEALTH_PORT", _final_env()["HEALTH_PORT"])
    assert f"127.0.0.1:{health_port}/healthz" in " ".join(test)
    # The same one-liner, pointed at the loopback stand-in.
    argv = [arg.replace(f":{health_port}/", f":{port}/") for arg in test[1:]]
    env = _python_on_path(tmp_path)
    assert _run(argv, env) == 0
    handler.status = 503
    assert _run(argv, env) != 0


def test_compose_publishes_the_dashboard_on_the_hosts_loopback() -> None:
    app = _compose()["services"]["stripe-nrr"]
    assert app["environment"]["WEB_HOST"] == "0.0.0.0"  # inside the container, for the published port
    published = [p for p in app["ports"] if "WEB_PORT" in p]
    assert published == ["127.0.0.1:${WEB_PORT:-8000}:${WEB_PORT:-8000}"]


def test_compose_postgres_16_with_required_password_healthcheck_and_volume() -> None:
    compose = _compose()
    pg = compose["services"]["postgres"]
    assert pg["image"].split(":")[1].split(".")[0].startswith("16")
    assert pg["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    app = compose["services"]["stripe-nrr"]
    url = parse_database_url(re.sub(r"\$\{[^}]*\}", "x", app["environment"]["DATABASE_URL"]))
    assert url.endswith(f"@postgres:5432/{pg['environment']['POSTGRES_DB']}")
    assert f"://{pg['environment']['POSTGRES_USER']}:" in url
    named = {v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])}
    assert named and named <= set(compose["volumes"])


# --------------------------------------------------------------------------- kubernetes


def _k8s(name: str) -> dict[str, Any]:
    data = _yaml(K8S / name)
    assert isinstance(data, dict)
    return data


def _container() -> dict[str, Any]:
    containers = _k8s("deployment.yaml")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_kustomization_lists_every_manifest() -> None:
    kustomization = _k8s("kustomization.yaml")
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert (
        set(kustomization["resources"])
        == manifests
        == {"deployment.yaml", "configmap.yaml", "secret.yaml", "service.yaml"}
    )
    image_names = {image["name"] for image in kustomization["images"]}
    assert _container()["image"].split(":")[0] in image_names


def test_deployment_runs_the_daemon() -> None:
    deployment = _k8s("deployment.yaml")
    assert deployment["kind"] == "Deployment"
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "RollingUpdate"  # assumes PostgreSQL (see the comment)
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    container = _container()
    assert [*container.get("command", ["nrr"]), *container["args"]] == ["nrr", "run"]
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 30
    assert container["resources"]["limits"]["memory"] == "512Mi"
    assert container["resources"]["requests"]["memory"]


def test_deployment_probes_call_healthz_on_the_container_port() -> None:
    container = _container()
    ports = {p["containerPort"] for p in container["ports"]}
    names = {p["name"]: p["containerPort"] for p in container["ports"] if "name" in p}
    config = _k8s("configmap.yaml")["data"]
    assert ports == {int(config["HEALTH_PORT"]), int(config["WEB_PORT"])}
    assert {"livenessProbe", "readinessProbe"} <= set(container)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        if probe not in container:
            continue
        http = container[probe]["httpGet"]
        assert http["path"] == "/healthz", probe
        assert names.get(http["port"], http["port"]) in ports, probe
        assert container[probe]["failureThreshold"] >= 3, probe
        assert container[probe]["timeoutSeconds"] >= 2, probe
    # Liveness gives a stuck process minutes, not seconds, before a restart.
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 60


def test_the_service_reaches_the_dashboard_port_of_the_pods() -> None:
    service = _k8s("service.yaml")
    assert service["kind"] == "Service" and service["spec"]["type"] == "ClusterIP"
    labels = _k8s("deployment.yaml")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    names = {p["name"]: p["containerPort"] for p in _container()["ports"]}
    config = _k8s("configmap.yaml")["data"]
    [port] = service["spec"]["ports"]
    assert names.get(port["targetPort"], port["targetPort"]) == int(config["WEB_PORT"])
    # Reachable through the Service only if the dashboard listens beyond the pod's loopback.
    assert config["WEB_HOST"] == "0.0.0.0"


def test_deployment_security_context() -> None:
    pod = _k8s("deployment.yaml")["spec"]["template"]["spec"]
    container = _container()
    merged = {**pod["securityContext"], **container["securityContext"]}
    assert merged["runAsNonRoot"] is True
    assert merged["runAsUser"] == APP_UID
    assert merged["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # A read-only root needs writable mounts for /tmp and for matplotlib's cache.
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    assert "emptyDir" in mounts["/tmp"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert any(env["MPLCONFIGDIR"].startswith(path + "/") for path in mounts)


def test_deployment_env_sources_match_the_configmap_and_secret() -> None:
    refs = _container()["envFrom"]
    config_refs = {r["configMapRef"]["name"] for r in refs if "configMapRef" in r}
    secret_refs = {r["secretRef"]["name"] for r in refs if "secretRef" in r}
    assert config_refs == {_k8s("configmap.yaml")["metadata"]["name"]}
    assert secret_refs == {_k8s("secret.yaml")["metadata"]["name"]}
    assert _k8s("configmap.yaml")["kind"] == "ConfigMap"
    assert _k8s("secret.yaml")["kind"] == "Secret"


def test_configmap_holds_valid_non_secret_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _k8s("configmap.yaml")["data"]
    assert set(data) <= _env_example_settings(), set(data) - _env_example_settings()
    assert not set(data) & SECRET_SETTINGS
    # Kubernetes rejects a ConfigMap whose values are not strings (unquoted 15, false, …).
    assert all(isinstance(value, str) for value in data.values()), data
    assert data["LOG_FORMAT"] == "json"
    # The app accepts every value as it stands (empty = not set).
    for name, value in data.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(_env_file=None)
    assert settings.health_port == int(data["HEALTH_PORT"])
    assert settings.sync_interval_minutes == int(data["SYNC_INTERVAL_MINUTES"])


def test_secret_holds_only_settings_and_clearly_fake_placeholders() -> None:
    secret = _k8s("secret.yaml")
    data = secret["stringData"]
    assert set(data) <= _env_example_settings(), set(data) - _env_example_settings()
    assert {"STRIPE_API_KEY", "DATABASE_URL", "SMTP_PASSWORD", "SLACK_BOT_TOKEN"} <= set(data)
    assert set(data) <= SECRET_SETTINGS
    for name, value in data.items():
        assert "REPLACE" in value.upper().replace("-", "_"), name
    # The placeholder key is shaped like a key but is rejected, so a forgotten edit fails fast.
    assert data["STRIPE_API_KEY"].startswith(("sk_", "rk_"))
    assert parse_database_url(data["DATABASE_URL"]).startswith("postgresql+psycopg://")


# --------------------------------------------------------------------------- systemd


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_systemd_unit_runs_the_daemon_as_its_own_user() -> None:
    unit = _unit()
    service = unit["Service"]
    assert service["User"] == "stripe-nrr"
    assert service["ExecStart"].split() == ["/opt/stripe-nrr/bin/nrr", "run"]
    assert service["ExecStartPre"].split() == ["/opt/stripe-nrr/bin/nrr", "db", "upgrade"]
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"] == "/etc/stripe-nrr/env"
    assert service["KillSignal"] == "SIGTERM"
    assert service["TimeoutStopSec"] == "30"
    state = f"/var/lib/{service['StateDirectory']}"
    assert service["WorkingDirectory"] == state
    assert state in service["ReadWritePaths"].split()
    assert "network-online.target" in unit["Unit"]["After"]
    assert "network-online.target" in unit["Unit"]["Wants"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_unit_is_hardened() -> None:
    service = _unit()["Service"]
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "LockPersonality": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "SystemCallArchitectures": "native",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }
    assert {key: service.get(key) for key in expected} == expected
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}


def _verify_unit(path: Path) -> list[str]:
    """`systemd-analyze verify` complaints about this unit file (it exits 0 on mere warnings)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if path.name in line]
    return lines if lines or done.returncode == 0 else [f"exit {done.returncode}: {done.stderr}"]


def _unit_copy(tmp_path: Path, text: str) -> Path:
    # The venv binary does not exist on a test machine; verify checks that it is executable.
    true = shutil.which("true")
    assert true
    path = tmp_path / UNIT.name
    path.write_text(text.replace("/opt/stripe-nrr/bin/nrr", true))
    return path


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    assert _verify_unit(_unit_copy(tmp_path, UNIT.read_text())) == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_reports_a_broken_unit(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace(
        "Restart=on-failure", "Restart=sometimes\nProtectEverything=yes"
    )
    complaints = _verify_unit(_unit_copy(tmp_path, broken))
    assert any("ProtectEverything" in line for line in complaints), complaints
    assert any("restart" in line.lower() for line in complaints), complaints

"""`.ci/pypi_audit.py`, the audit of the lock file from PyPI's project data, against a loopback
index: a vulnerable latest pin fails, a clean one passes, an older pin is counted as not
audited (never as clean), a withdrawn advisory is ignored."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROJECTS = {
    "oldcrypto": {"info": {"version": "2.6.1"}, "vulnerabilities": [
        {"id": "PYSEC-2017-94", "aliases": ["CVE-2013-7459"], "fixed_in": [], "withdrawn": None}]},
    "cleanlib": {"info": {"version": "3.1.6"}, "vulnerabilities": [
        {"id": "PYSEC-2099-1", "aliases": [], "fixed_in": ["3.1.7"], "withdrawn": "2099-01-01T00:00:00Z"}]},
    "movedon": {"info": {"version": "2.0.0"}, "vulnerabilities": []},
}


class Index(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        name = self.path.strip("/").split("/")[1]
        body = json.dumps(PROJECTS[name]).encode() if name in PROJECTS else b"{}"
        self.send_response(200 if name in PROJECTS else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def audit_module() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("pypi_audit", ROOT / ".ci" / "pypi_audit.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    module.INDEX = f"http://127.0.0.1:{server.server_port}/pypi/{{name}}/json"  # type: ignore[attr-defined]
    yield module
    server.shutdown()


def test_a_vulnerable_pin_fails_and_names_the_advisory(
    audit_module: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("# header\nOldCrypto==2.6.1\ncleanlib==3.1.6\n")
    assert audit_module.main([str(lock)]) == 1
    out = capsys.readouterr().out
    assert "VULNERABLE oldcrypto==2.6.1: PYSEC-2017-94 (CVE-2013-7459)" in out
    assert "cleanlib" not in out.replace("pins audited", "")  # withdrawn advisory ignored
    assert out.splitlines()[-1] == ("pypi-audit: 2 of 2 pins audited from PyPI's project data, "
                                    "1 known vulnerabilities, 0 not audited")


def test_an_older_pin_or_an_unknown_project_is_not_audited_never_clean(
    audit_module: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("movedon==1.0.0\nghost==1.0\ncleanlib==3.1.6\n")
    assert audit_module.main([str(lock)]) == 0
    out = capsys.readouterr().out
    assert "not audited movedon==1.0.0: not the latest release (2.0.0)" in out
    assert "not audited ghost==1.0: PyPI did not answer" in out
    assert out.splitlines()[-1].endswith("1 of 3 pins audited from PyPI's project data, "
                                         "0 known vulnerabilities, 2 not audited")


def test_only_the_named_pins_are_checked(
    audit_module: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("oldcrypto==2.6.1\ncleanlib==3.1.6\n")
    assert audit_module.main([str(lock), "cleanlib"]) == 0
    assert "1 of 1 pins audited" in capsys.readouterr().out


def test_the_lock_file_pins_every_runtime_dependency() -> None:
    lock = (ROOT / "requirements.lock").read_text()
    for name in ("stripe", "SQLAlchemy", "sqlmodel", "APScheduler", "structlog", "tenacity", "psycopg"):
        assert f"\n{name}==" in lock, name

"""Second opinion for ``make audit`` where pip-audit's vulnerability services are out of reach.

pip-audit asks ``https://pypi.org/pypi/<name>/<version>/json`` (or OSV) for each pinned
release. Some networks (a mirror, a proxy) answer only the project document
``/pypi/<name>/json``, whose ``vulnerabilities`` list belongs to the project's *latest*
release. So a pin that is the latest release can still be audited from it, with PyPI's
own advisory data (the same OSV/PYSEC/GHSA records pip-audit would use); a pin that is
older cannot, and is reported as not audited rather than passed.

Usage: python .ci/pypi_audit.py requirements.lock [name ...]
With names, only those pins are checked (the ones pip-audit could not audit).
Exit 1 when a vulnerability is found, 0 otherwise; the last line counts what was checked.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

INDEX = "https://pypi.org/pypi/{name}/json"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lock: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[canonical(match.group(1))] = match.group(2)
    return pins


def fetch_project(name: str) -> dict:
    with urllib.request.urlopen(INDEX.format(name=name), timeout=30) as response:
        return json.load(response)


def audit(pins: dict[str, str]) -> tuple[list[str], list[str], int]:
    """(vulnerabilities found, pins not audited, pins audited)."""
    found: list[str] = []
    unaudited: list[str] = []
    audited = 0
    for name, version in sorted(pins.items()):
        try:
            project = fetch_project(name)
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            unaudited.append(f"{name}=={version}: PyPI did not answer ({exc})")
            continue
        latest = project["info"]["version"]
        if latest != version:
            unaudited.append(f"{name}=={version}: not the latest release ({latest}); only the latest can be looked up here")
            continue
        audited += 1
        for vuln in project.get("vulnerabilities") or []:
            if vuln.get("withdrawn"):
                continue
            fixed = ", ".join(vuln.get("fixed_in") or []) or "no fix yet"
            aliases = ", ".join(vuln.get("aliases") or [])
            found.append(f"{name}=={version}: {vuln['id']} ({aliases}) fixed in {fixed}")
    return found, unaudited, audited


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-3], file=sys.stderr)
        return 2
    pins = read_pins(Path(argv[0]))
    if argv[1:]:
        wanted = {canonical(n) for n in argv[1:]}
        pins = {n: v for n, v in pins.items() if n in wanted}
    found, unaudited, audited = audit(pins)
    for line in found:
        print(f"VULNERABLE {line}")
    for line in unaudited:
        print(f"not audited {line}")
    print(f"pypi-audit: {audited} of {len(pins)} pins audited from PyPI's project data, "
          f"{len(found)} known vulnerabilities, {len(unaudited)} not audited")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

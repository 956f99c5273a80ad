"""make audit: known vulnerabilities of the locked Python environment (requirements.lock), offline-tolerant.

Runs pip-audit on requirements.lock (exact pins, no resolution, pip not involved) against PyPI's vulnerability
service (https://pypi.org/pypi/<name>/<version>/json). Outcomes, one clear line each:

- the service answers and knows no vulnerability in the locked releases: a line saying so, exit 0;
- it knows one or more: pip-audit's table and a summary line, exit 1;
- it cannot be reached (no network, a proxy or firewall in the way, a timeout, or PyPI's per-release JSON API not
  served, which pip-audit itself takes for "not on PyPI" and passes silently, having checked nothing): the line
  "pip-audit: vulnerability database unreachable, skipped (<why>)", exit 0;
- pip-audit fails for any other reason (a bad lock line, a malformed answer): its error output, exit 1.

A quick probe of the service (pip-audit's own locked release) comes first, so an unreachable service costs one
request with a timeout, not one per package. Run with the venv's Python: `.venv/bin/python scripts/audit.py`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import requests
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
SERVICE_URL = "https://pypi.org/pypi/{name}/{version}/json"
HTTP_TIMEOUT = 15  # seconds, for the probe and for each of pip-audit's requests
RUN_TIMEOUT = 600  # seconds for the whole pip-audit run (about 140 requests; ~10 s when PyPI answers)
SKIPPED = "pip-audit: vulnerability database unreachable, skipped"

# Known vulnerabilities accepted on purpose: one vulnerability id each (PYSEC-/GHSA-/CVE-), with the reason why it
# cannot be fixed by raising the version in pyproject.toml and `make lock`. Never a package or a blanket ignore.
IGNORED: dict[str, str] = {}

# What a request that never got an answer looks like in pip-audit's error output (requests/urllib3 exceptions).
_NETWORK_ERRORS = re.compile(
    r"ConnectionError|ConnectTimeout|ReadTimeout|ProxyError|SSLError|Max retries exceeded|"
    r"Could not connect to PyPI|PyPI is not redirecting properly|Name or service not known|Connection refused"
)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.!+_-]+)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK) -> list[tuple[str, str]]:
    """The (name, version) pins of the lock file; exits with a clear message on anything else."""
    if not path.is_file():
        sys.exit(f"pip-audit: {path.name} is missing; run `make lock`")
    pins = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        if match is None:
            sys.exit(f"pip-audit: {path.name} line {number} is not a name==version pin: {line!r}")
        pins.append((match.group(1), match.group(2)))
    if not pins:
        sys.exit(f"pip-audit: {path.name} pins no package; run `make lock`")
    return pins


def stale(pins: list[tuple[str, str]]) -> list[str]:
    """pyproject.toml's requirements (main and dev) that the lock does not pin, or pins outside their range."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    locked = {canonical(name): version for name, version in pins}
    problems = []
    for line in project["dependencies"] + project["optional-dependencies"]["dev"]:
        requirement = Requirement(line)
        version = locked.get(canonical(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not pinned")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} is outside {requirement.specifier}")
    return problems


def probe(name: str, version: str) -> str | None:
    """None when the service answers for this release with its vulnerability list, else why not (short)."""
    url = SERVICE_URL.format(name=canonical(name), version=version)
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        return f"{type(exc).__name__} for {url}"
    if response.status_code != 200:
        return f"HTTP {response.status_code} for {url}"
    try:
        body = response.json()
    except ValueError:
        return f"no JSON from {url}"
    if not isinstance(body, dict) or not isinstance(body.get("vulnerabilities"), list):
        return f"no vulnerability list in the answer of {url}"
    return None


def pip_audit(fmt: str, output: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(LOCK),
        "--no-deps",
        "--disable-pip",
        "--vulnerability-service",
        "pypi",
        "--timeout",
        str(HTTP_TIMEOUT),
        "--progress-spinner",
        "off",
        "--format",
        fmt,
    ]
    if output is not None:
        command += ["--output", str(output)]
    for vuln_id in sorted(IGNORED):
        command += ["--ignore-vuln", vuln_id]
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)


def main() -> int:
    pins = read_lock()
    problems = stale(pins)
    if problems:  # the audit would check other versions than `make install` installs
        print(f"pip-audit: requirements.lock is behind pyproject.toml ({'; '.join(problems)}); run `make lock`")
        return 1
    probe_pin = next(((n, v) for n, v in pins if canonical(n) == "pip-audit"), pins[0])
    reason = probe(*probe_pin)
    if reason is not None:
        print(f"{SKIPPED} ({reason})")
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "audit.json"
        try:
            run = pip_audit("json", report_path)
        except subprocess.TimeoutExpired:
            print(f"{SKIPPED} (pip-audit took over {RUN_TIMEOUT} s)")
            return 0
        try:
            dependencies = json.loads(report_path.read_text(encoding="utf-8"))["dependencies"]
        except (OSError, ValueError, KeyError, TypeError):
            dependencies = None
    if dependencies is None:
        network_error = _NETWORK_ERRORS.search(run.stderr) if run.returncode != 0 else None
        if network_error is not None:
            print(f"{SKIPPED} (connection lost during the audit: {network_error.group(0)})")
            return 0
        sys.stderr.write(run.stderr)
        print(f"pip-audit: failed (exit {run.returncode}) without a report; see its output above")
        return 1

    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if "skip_reason" in d]
    if vulnerable:
        try:
            table = pip_audit("columns").stdout
        except subprocess.TimeoutExpired:
            table = ""
        sys.stdout.write(table)
        if not table.strip():  # the second run lost the service: list them from the first
            for dep in vulnerable:
                for vuln in dep["vulns"]:
                    fixed = ", ".join(vuln.get("fix_versions") or []) or "no fix"
                    print(f"{dep['name']} {dep['version']} {vuln['id']} (fixed in: {fixed})")
        count = sum(len(d["vulns"]) for d in vulnerable)
        names = ", ".join(f"{d['name']} {d['version']}" for d in vulnerable)
        print(
            f"pip-audit: {count} known vulnerabilit{'y' if count == 1 else 'ies'} in {names}; raise the minimum in "
            "pyproject.toml and `make lock`, or ignore one narrowly with its reason in scripts/audit.py"
        )
        return 1
    if run.returncode != 0:
        sys.stderr.write(run.stderr)
        print(f"pip-audit: failed (exit {run.returncode}) without naming a vulnerability; see its output above")
        return 1
    if 2 * len(skipped) > len(dependencies):  # the service is mostly not there: do not pass for an audit
        print(f"{SKIPPED} (PyPI answered no release of {len(skipped)} of the {len(dependencies)} locked packages)")
        return 0
    if skipped:  # a few releases PyPI does not know: say which, the others were checked
        names = ", ".join(d["name"] for d in skipped[:10]) + (", ..." if len(skipped) > 10 else "")
        print(f"pip-audit: warning: {len(skipped)} of {len(dependencies)} locked packages not checked: {names}")
    checked = len(dependencies) - len(skipped)
    ignored = f", ignoring {', '.join(sorted(IGNORED))}" if IGNORED else ""
    print(f"pip-audit: no known vulnerabilities in the {checked} checked locked packages (PyPI's service{ignored})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

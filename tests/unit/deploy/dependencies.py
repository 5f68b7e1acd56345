"""pyproject.toml's dependencies, the lock (constraints.txt) and the packages installed here.

Also a stand-in for an image's Python without building it: ``run_in_image`` runs code in a
fresh interpreter whose sys.path holds only the files an image's COPY lines put in it and
the installed runtime dependencies (the closure of [project] dependencies; not the dev
extra, and not the editable install of this repo).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = ROOT / "pyproject.toml"
CONSTRAINTS = ROOT / "constraints.txt"
LOCK_SCRIPT = ROOT / "deploy" / "lock-dependencies.sh"
RELOCK = "re-run deploy/lock-dependencies.sh (it rewrites constraints.txt)"
REINSTALL = "re-run ./handoff (it reinstalls .venv when pyproject.toml or constraints.txt changes)"
_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def project() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["project"]


def runtime_requirements() -> list[Requirement]:
    return [Requirement(r) for r in project()["dependencies"]]


def dev_requirements() -> list[Requirement]:
    return [Requirement(r) for r in project()["optional-dependencies"]["dev"]]


def constraint_lines() -> list[str]:
    """The requirement lines of constraints.txt: without comments and blank lines."""
    lines = []
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def pins() -> dict[str, str]:
    """canonical name -> pinned version (lines that are not NAME==VERSION are left out)."""
    found = {}
    for line in constraint_lines():
        m = _PIN.fullmatch(line)
        if m:
            found[canonicalize_name(m.group(1))] = m.group(2)
    return found


def installed(name: str) -> importlib.metadata.Distribution | None:
    try:
        return importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def closure(requirements: list[Requirement]) -> dict[str, importlib.metadata.Distribution | None]:
    """canonical name -> installed distribution (None if missing) of the requirements and,
    transitively, of what their installed metadata requires here (markers evaluated here)."""
    found: dict[str, importlib.metadata.Distribution | None] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        dist = installed(requirement.name)
        found[name] = dist
        if dist is None:
            continue
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in {"", *requirement.extras}):
                todo.append(sub)
    return found


def runtime_site_packages(into: Path) -> Path:
    """A site-packages of links to what the runtime dependencies installed, and nothing else."""
    into.mkdir(parents=True, exist_ok=True)
    for name, dist in sorted(closure(runtime_requirements()).items()):
        assert dist is not None, f"runtime dependency {name} is not installed: {REINSTALL}"
        assert dist.files is not None, f"{name}: no RECORD of its files"
        for file in dist.files:
            top = PurePosixPath(str(file)).parts[0]
            if top in ("..", "__pycache__") or (into / top).exists() or (into / top).is_symlink():
                continue
            source = Path(dist.locate_file(top))
            if source.exists():
                (into / top).symlink_to(source)
    return into


_RUNNER = r"""
import json, site, sys
paths, site_dir, code = json.loads(sys.argv[1])
sys.path[:0] = paths
site.addsitedir(site_dir)
exec(compile(code, "<check>", "exec"), {"__name__": "__check__"})
print("\n" + json.dumps({name: getattr(m, "__file__", None) for name, m in list(sys.modules.items())}))
"""


def run_in_image(python_path: list[Path], site_dir: Path, code: str) -> dict[str, str | None]:
    """Runs code in `python -I -S -B` (no PYTHON* env, no user or venv site-packages, no .pth
    of the editable install) with sys.path = python_path + site_dir; returns module -> file
    of every module it ended up importing. Fails with the child's traceback."""
    argv = [sys.executable, "-I", "-S", "-B", "-c", _RUNNER,
            json.dumps([[str(p) for p in python_path], str(site_dir), code])]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                            cwd=site_dir.parent, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    assert result.returncode == 0, f"{code.strip()}\nfailed in the image's Python:\n{result.stderr[-4000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])

"""constraints.txt, the lock that CI (./handoff) and the images (deploy/Dockerfile) install
with: exact pins of every runtime and dev dependency of pyproject.toml, transitively, and
.venv holding exactly those versions. A stale lock or venv fails here, saying what to re-run."""

from __future__ import annotations

import os
import platform
import re
import sys

from packaging.utils import canonicalize_name

from tests.unit.deploy.dependencies import (
    CONSTRAINTS,
    LOCK_SCRIPT,
    REINSTALL,
    RELOCK,
    ROOT,
    closure,
    constraint_lines,
    dev_requirements,
    installed,
    pins,
    runtime_requirements,
)

HANDOFF = ROOT / "handoff"


def test_lock_holds_exact_pins_only() -> None:
    lines = constraint_lines()
    assert lines, "constraints.txt pins nothing"
    loose = [line for line in lines if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[^\s;#\[\]]+", line)]
    assert not loose, f"not NAME==VERSION (pip -c takes no extras, URLs or ranges): {loose}"
    names = [canonicalize_name(line.split("==")[0]) for line in lines]
    assert len(names) == len(set(names)), f"pinned twice: {sorted({n for n in names if names.count(n) > 1})}"


def test_lock_pins_every_dependency_named_in_pyproject() -> None:
    locked = pins()
    problems = []
    for requirement in runtime_requirements() + dev_requirements():
        name = canonicalize_name(requirement.name)
        if name not in locked:
            problems.append(f"{requirement.name}: not pinned")
        elif not requirement.specifier.contains(locked[name], prereleases=True):
            problems.append(f"{requirement.name}: pinned {locked[name]}, pyproject.toml asks {requirement.specifier}")
    assert not problems, "\n".join(problems) + f"\n{RELOCK}"


def test_lock_is_complete_and_has_nothing_extra() -> None:
    """Everything the dependencies require (as installed here, transitively) is pinned, and
    every pin is needed by something pyproject.toml names."""
    locked = pins()
    needed = closure(runtime_requirements() + dev_requirements())
    missing = sorted(n for n in needed if n not in locked)
    assert not missing, f"required but not pinned: {missing}\n{RELOCK}"
    if sys.version_info[:2] == (3, 11) and sys.platform == "linux" and platform.machine() == "x86_64":
        # the lock's own platform: there a pin that nothing requires is a leftover
        extra = sorted(set(locked) - set(needed))
        assert not extra, f"pinned but required by nothing: {extra}\n{RELOCK} (or {REINSTALL})"


def test_venv_holds_the_pinned_versions() -> None:
    locked = pins()
    named = {canonicalize_name(r.name) for r in runtime_requirements() + dev_requirements()}
    problems = []
    for name, version in sorted(locked.items()):
        dist = installed(name)
        if dist is None:
            if name in named:
                problems.append(f"{name}: not installed, pinned {version}")
        elif dist.version != version:
            problems.append(f"{name}: {dist.version} installed, pinned {version}")
    assert not problems, "\n".join(problems) + f"\n{REINSTALL}"


def test_lock_says_how_to_regenerate_it() -> None:
    header = [line for line in CONSTRAINTS.read_text().splitlines()[:12] if line.startswith("#")]
    text = "\n".join(header)
    assert "deploy/lock-dependencies.sh" in text, "the header does not say how to regenerate the lock"
    (command,) = [line.lstrip("# ") for line in header if "uv pip compile" in line]
    for part in ("pyproject.toml", "--extra dev", "--python-version 3.11",
                 "--python-platform x86_64-unknown-linux-gnu", "--output-file constraints.txt"):
        assert part in command, f"{part} not in: {command}"
    script = LOCK_SCRIPT.read_text()
    assert os.access(LOCK_SCRIPT, os.X_OK), f"{LOCK_SCRIPT.name} is not executable"
    assert re.search(r"^UV_VERSION=\S+", script, re.MULTILINE), "the script does not pin uv's version"
    compile_words = " ".join(re.search(r"COMPILE=\((.*?)\)", script, re.DOTALL).group(1).split())
    assert compile_words == command, f"the header's command is not the script's: {compile_words}"


def test_handoff_installs_from_the_lock() -> None:
    """./handoff installs .venv with -c constraints.txt, again when constraints.txt changes."""
    script = HANDOFF.read_text()
    (install,) = [line for line in script.splitlines() if "pip install" in line and "-e" in line]
    assert re.search(r"(-c|--constraint)[ =]constraints\.txt", install), install
    (condition,) = [line for line in script.splitlines() if "$STAMP" in line and line.lstrip().startswith("if")]
    assert "pyproject.toml" in condition and "constraints.txt" in condition, condition

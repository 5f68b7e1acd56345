"""deploy/Dockerfile and .dockerignore, checked without Docker (no engine on the dev machines
or in CI): the images are read from the Dockerfile as Docker would build them (dockerfile.py)
and what a COPY line puts in an image is copied into a temp dir, where the service's app is
imported by a fresh interpreter that sees only those files and the runtime dependencies.

Targets: ``service`` (the default, last stage) with ``--build-arg SERVICE=<name>`` for each of
the four services, and ``migrate`` for the one-shot migration job.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.deploy.dependencies import (
    CONSTRAINTS,
    PYPROJECT,
    REINSTALL,
    RELOCK,
    project,
    run_in_image,
    runtime_site_packages,
)
from tests.unit.deploy.dockerfile import (
    DOCKERFILE,
    ROOT,
    Dockerfile,
    DockerIgnore,
    Image,
)
from tests.unit.deploy.manifests import (
    APP_SERVICES,
    MIGRATE_TARGET,
    PORT,
    SERVICE_TARGET,
    image_uid,
)

TARGETS = [*APP_SERVICES, MIGRATE_TARGET]  # a service's image, or the migrate job's
USER, UID = "handoff", 10001
NOT_IN_ANY_IMAGE = ("devstack", "ops", "tests", "deploy", "docs", "benchmarks", ".git", ".venv", ".env",
                    ".handoff", ".ci", "handoff.egg-info", ".pytest_cache", ".hypothesis")


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile()


@pytest.fixture(scope="module")
def ignore() -> DockerIgnore:
    return DockerIgnore.read()


def image_of(dockerfile: Dockerfile, target: str) -> Image:
    if target == MIGRATE_TARGET:
        return dockerfile.image(MIGRATE_TARGET)
    return dockerfile.image(SERVICE_TARGET, SERVICE=target)


def is_bytecode(path: str) -> bool:
    return "__pycache__" in path.split("/") or path.endswith((".pyc", ".pyo"))


# ---- one Dockerfile, its targets ------------------------------------------------------------

def test_one_dockerfile_builds_every_image(dockerfile: Dockerfile) -> None:
    others = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "deploy").rglob("Dockerfile*") if p != DOCKERFILE)
    assert not others, f"one parameterised deploy/Dockerfile, not several: {others}"
    assert {MIGRATE_TARGET, SERVICE_TARGET} <= set(dockerfile.stage_names), dockerfile.stage_names
    assert dockerfile.stage_names[-1] == SERVICE_TARGET, "docker build without --target builds a service"
    with_app = {p.parent.name for p in (ROOT / "services").glob("*/app.py")}
    assert with_app == set(APP_SERVICES), f"services with an app.py: {sorted(with_app)}"


@pytest.mark.parametrize("target", TARGETS)
def test_image_base_user_port_and_environment(dockerfile: Dockerfile, target: str) -> None:
    image = image_of(dockerfile, target)
    assert image.base == "python:3.11-slim", image.base
    assert re.search(r"^FROM\s+python:3\.11-slim\b", dockerfile.text, re.MULTILINE)
    assert image.user == USER and image_uid(image) == UID, f"{target}: runs as {image.user}, uid {image_uid(image)}"
    assert image.expose == {PORT}, image.expose
    assert image.workdir == "/app"
    assert image.env.get("PYTHONDONTWRITEBYTECODE") == "1" and image.env.get("PYTHONUNBUFFERED") == "1"
    assert "/app" in image.env.get("PYTHONPATH", "").split(":"), "the sources in /app are not importable"
    configs = {f"/app/config/{p.name}" for p in (ROOT / "config").iterdir() if p.is_file()}
    assert configs and configs <= set(image.files(DockerIgnore.read())), "config/ is not at /app/config"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_image_command(dockerfile: Dockerfile, name: str) -> None:
    image = image_of(dockerfile, name)
    assert image.entrypoint == [], image.entrypoint
    assert image.env.get("HANDOFF_SERVICE") == name, "the service's name is not baked into the image"
    # argv() refuses a sh -c script that does not exec (uvicorn must be PID 1 to get SIGTERM)
    assert image.argv() == ["uvicorn", "--factory", f"services.{name}.app:create_app",
                            "--host", "0.0.0.0", "--port", str(PORT)], image.cmd


def test_migrate_image_command(dockerfile: Dockerfile) -> None:
    image = image_of(dockerfile, MIGRATE_TARGET)
    assert image.argv() == ["python", "-m", "shared.db.migrations"], image.cmd
    assert "HANDOFF_SERVICE" not in image.env
    assert 'if __name__ == "__main__":' in (ROOT / "shared" / "db" / "migrations.py").read_text()


def test_service_build_arg_is_required(dockerfile: Dockerfile, tmp_path: Path) -> None:
    """Without SERVICE, `COPY services/${SERVICE}` would copy every service: a RUN refuses first."""
    stage = dockerfile.chain(SERVICE_TARGET)[-1]
    keywords = [(i.keyword, i.args) for i in stage.instructions]
    copy = next(n for n, (k, a) in enumerate(keywords) if k == "COPY" and "${SERVICE}" in a)
    guards = [n for n, (k, a) in enumerate(keywords) if k == "RUN" and '"$SERVICE"' in a]
    assert guards and guards[0] < copy, "no RUN checks SERVICE before it is used"
    assert len(dockerfile.image(SERVICE_TARGET).files(DockerIgnore.read())) > len(
        image_of(dockerfile, APP_SERVICES[0]).files(DockerIgnore.read())), "the guard guards nothing"
    guard = keywords[guards[0]][1]
    for value, ok in (("", False), ("intake", True)):
        result = subprocess.run(["sh", "-c", guard], env={"SERVICE": value, "PATH": "/usr/bin:/bin"},
                                capture_output=True, text=True, check=False)
        assert (result.returncode == 0) == ok, f"SERVICE={value!r}: {result.returncode} {result.stderr}"
        if not ok:
            assert "--build-arg SERVICE=" in result.stderr, f"the refusal does not say what to do: {result.stderr}"


# ---- the build context -----------------------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_every_copy_source_is_in_the_build_context(dockerfile: Dockerfile, ignore: DockerIgnore,
                                                   target: str) -> None:
    """Each COPY source exists and .dockerignore lets it in, whole but for bytecode caches."""
    problems = []
    for copy in image_of(dockerfile, target).copies:
        for source in copy.sources:
            where = f"line {copy.instruction.line}: COPY {source}"
            path = ROOT / source
            if not path.exists():
                problems.append(f"{where}: no such file or directory in the repo")
            elif ignore.excludes(source):
                problems.append(f"{where}: excluded by .dockerignore")
            elif path.is_dir():
                files = [p.relative_to(ROOT).as_posix() for p in path.rglob("*") if p.is_file()]
                left_out = [f for f in files if ignore.excludes(f) and not is_bytecode(f)]
                if left_out:
                    problems.append(f"{where}: .dockerignore leaves out {left_out[:5]}")
                if not ignore.included_files(source):
                    problems.append(f"{where}: nothing in it reaches the build context")
    assert not problems, "\n".join(problems)


def test_dockerignore_lets_in_only_what_the_images_copy(dockerfile: Dockerfile, ignore: DockerIgnore) -> None:
    sources = {s for target in TARGETS for c in image_of(dockerfile, target).copies for s in c.sources}
    copied_tops = {s.split("/")[0] for s in sources}
    sent_tops = {entry for entry in os.listdir(ROOT) if not ignore.excludes(entry)}
    assert sent_tops <= copied_tops, f"in the build context but copied by no image: {sorted(sent_tops - copied_tops)}"
    unused = [e for e in ignore.exceptions if not any(s == e or s.startswith(e + "/") for s in sources)]
    assert not unused, f".dockerignore lets in what no COPY uses: {unused}"
    for path in NOT_IN_ANY_IMAGE:
        assert ignore.excludes(path) and ignore.excludes(f"{path}/x/y.py"), f"{path} reaches the build context"


@pytest.mark.parametrize(("lines", "path", "excluded"), [
    (["*", "!shared"], "shared/db/x.py", False),               # an exception re-admits a dir and its content
    (["*", "!shared"], "sharedx/y.py", True),                  # a name, not a prefix
    (["*", "!shared"], "ops/x.py", True),
    (["*", "!shared", "shared/db"], "shared/db/x.py", True),   # the last matching rule wins
    (["*", "!shared", "shared/db", "!shared/db/x.py"], "shared/db/x.py", False),
    (["**/__pycache__"], "__pycache__/a.pyc", True),           # **/ matches no directory too
    (["**/__pycache__"], "a/b/__pycache__/c.pyc", True),
    (["**/*.py[co]"], "a/b/c.pyc", True),
    (["**/*.py[co]"], "a/b/c.py", False),
    (["*.pyc"], "a/b.pyc", False),                             # * never crosses a /
    (["a/*/c"], "a/b/c", True),
    (["a/*/c"], "a/b/x/c", False),
    (["a/**/c"], "a/b/x/c", True),
    (["a/**"], "a/b/c", True),
    (["/config/"], "config/x.yaml", True),                     # leading and trailing / are dropped
    (["# a comment", "x"], "# a comment", False),
    (["  x  "], "x", True),                                    # lines are trimmed
    (["x?"], "xy", True),
    (["x?"], "x/", False),
    (["a.b"], "aXb", False),                                   # . is literal
    (["*", "!shared", "**/__pycache__"], "shared/__pycache__/m.cpython-311.pyc", True),
])
def test_dockerignore_follows_dockers_rules(lines: list[str], path: str, excluded: bool) -> None:
    assert DockerIgnore(lines).excludes(path) == excluded


# ---- what an image carries -----------------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_image_contents(dockerfile: Dockerfile, ignore: DockerIgnore, target: str) -> None:
    files = image_of(dockerfile, target).files(ignore)
    app = {path.removeprefix("/app/") for path in files if path.startswith("/app/")}
    tops = {path.split("/")[0] for path in app}
    assert tops == {"shared", "services", "config"}, sorted(tops)
    assert not any(path.relative_to(ROOT).parts[0] in NOT_IN_ANY_IMAGE for path in files.values())
    assert not [p for p in app if is_bytecode(p)], "bytecode caches in the image"
    services = {p.split("/")[1] for p in app if p.startswith("services/") and p.count("/") > 1}
    assert "services/__init__.py" in app
    if target == MIGRATE_TARGET:
        assert services == set(APP_SERVICES), sorted(services)
        for name in APP_SERVICES:
            assert {f"services/{name}/tables.py", f"services/{name}/migrations/env.py"} <= app, name
            assert any(p.startswith(f"services/{name}/migrations/versions/") for p in app), name
    else:
        assert services == {target}, f"the {target} image carries {sorted(services)}"
        assert f"services/{target}/app.py" in app


@pytest.fixture(scope="module")
def site_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runtime dependencies' files only, as pip installs them in the image."""
    return runtime_site_packages(tmp_path_factory.mktemp("image") / "site-packages")


def materialise(image: Image, ignore: DockerIgnore, root: Path) -> list[Path]:
    """The image's files under root; returns its PYTHONPATH there."""
    image.materialise(ignore, root)
    return [root / entry.lstrip("/") for entry in image.env["PYTHONPATH"].split(":") if entry]


def check_modules(modules: dict[str, str | None], root: Path, allowed_services: set[str]) -> None:
    strays = sorted(n for n in modules if n.split(".")[0] in ("ops", "devstack", "tests"))
    assert not strays, f"imported what no image carries: {strays}"
    from_repo = sorted(n for n, f in modules.items() if f and f.startswith(str(ROOT) + os.sep))
    assert not from_repo, f"loaded from the repo instead of the image: {from_repo[:5]}"
    ours = {n: f for n, f in modules.items() if n.split(".")[0] in ("shared", "services")}
    assert all(f is None or f.startswith(str(root)) for f in ours.values())
    other = sorted(n for n in ours if n.startswith("services.") and n.split(".")[1] not in allowed_services)
    assert not other, f"imports another service's code, not in this image: {other}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_image_imports_its_app(dockerfile: Dockerfile, ignore: DockerIgnore, site_packages: Path,
                                       tmp_path: Path, name: str) -> None:
    """The image's files and the runtime dependencies are enough to import the app that its
    CMD starts, with everything that imports (create_app is not called: it needs no more)."""
    root = tmp_path / "root"
    python_path = materialise(image_of(dockerfile, name), ignore, root)
    module, _, factory = image_of(dockerfile, name).argv()[2].partition(":")
    code = f"import importlib\nassert callable(getattr(importlib.import_module({module!r}), {factory!r}))"
    modules = run_in_image(python_path, site_packages, code)
    assert modules[module] == str(root / "app" / "services" / name / "app.py")
    check_modules(modules, root, {name})


def test_migrate_image_loads_every_service_migrations(dockerfile: Dockerfile, ignore: DockerIgnore,
                                                      site_packages: Path, tmp_path: Path) -> None:
    """What `python -m shared.db.migrations` needs short of a database: every service's
    tables.py and Alembic environment, and its revisions, found in the image."""
    root = tmp_path / "root"
    python_path = materialise(image_of(dockerfile, MIGRATE_TARGET), ignore, root)
    code = f"""
import importlib, os
from alembic.script import ScriptDirectory
import shared.db.migration_env
from shared.db import migrations
assert set(migrations.SERVICES) == {set(APP_SERVICES)!r}, migrations.SERVICES
for service in migrations.SERVICES:
    importlib.import_module(f"services.{{service}}.tables")
    script = ScriptDirectory.from_config(migrations.alembic_config(service, "postgresql+asyncpg://u:p@db/handoff"))
    assert script.dir.startswith({str(root)!r}), script.dir
    assert os.path.isfile(os.path.join(script.dir, "env.py")) and script.get_heads(), service
"""
    modules = run_in_image(python_path, site_packages, code)
    check_modules(modules, root, set(APP_SERVICES))


# ---- the dependencies an image installs ------------------------------------------------------

def test_images_install_the_locked_runtime_dependencies(dockerfile: Dockerfile, tmp_path: Path) -> None:
    """The runtime stage installs pyproject.toml's [project] dependencies with pip's -c
    constraints.txt, and not the project itself; pip accepts that command with the lock."""
    image = dockerfile.image(dockerfile.chain(SERVICE_TARGET)[0].name)
    copied = {s: c.dest for c in image.copies for s in c.sources}
    assert {"pyproject.toml", "constraints.txt"} <= set(copied), sorted(copied)
    (install,) = [r for r in image.runs if "pip install" in r]
    pip = install[install.index("pip install"):].split("&&")[0].split()
    assert "--constraint" in pip or "-c" in pip, pip
    assert pip[(pip.index("--constraint") if "--constraint" in pip else pip.index("-c")) + 1] == "constraints.txt"
    assert "--requirement" in pip or "-r" in pip, pip
    assert not any(w in (".", "/src", "-e", "--editable") or w.endswith("pyproject.toml") for w in pip), (
        f"the project itself is pip-installed: {pip}")
    # the requirement list, written as the RUN line writes it, from a copy of pyproject.toml
    (program,) = re.findall(r"python -c '([^']+)' > runtime\.txt", install)
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    shutil.copy(CONSTRAINTS, tmp_path / "constraints.txt")
    listed = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True,
                            check=True).stdout
    assert listed.splitlines() == project()["dependencies"]
    (tmp_path / "runtime.txt").write_text(listed)
    # pip's own parser and resolver, offline, on what is installed here: refuses a constraint
    # it cannot use (an extra, a URL) and a pin the runtime dependencies do not allow
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--quiet",
                             "--disable-pip-version-check", "--requirement", "runtime.txt",
                             "--constraint", "constraints.txt"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n({RELOCK}, then {REINSTALL})"


def test_docs_name_the_one_dockerfile() -> None:
    """No file of the deployment still points at the per-service Dockerfiles."""
    stale = re.compile(r"deploy/(<service>|intake|scoring|routing|feedback)/Dockerfile")
    places = [ROOT / "README.md", ROOT / "docs" / "architecture.md", ROOT / "docker-compose.yml",
              *sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))]
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in places for m in stale.finditer(p.read_text())]
    assert not found, "\n".join(found)
    assert "deploy/Dockerfile" in (ROOT / "README.md").read_text()

#!/usr/bin/env bash
# Writes constraints.txt: exact pins of every runtime and dev dependency of pyproject.toml
# ([project] dependencies and the `dev` extra), transitively, for Python 3.11 on Linux x86_64
# whatever machine runs this. ./handoff (developers, CI) and deploy/Dockerfile (images)
# install with `pip install -c constraints.txt`, so all of them get these versions.
#
#   deploy/lock-dependencies.sh                   after changing pyproject.toml's dependencies:
#                                                 adds what is new, keeps the other pins
#   deploy/lock-dependencies.sh --upgrade         every package to its newest allowed version
#   deploy/lock-dependencies.sh -P fastapi        only that one (uv's --upgrade-package)
#
# uv runs from a throw-away virtualenv (nothing is installed into .venv) and resolves against
# PyPI only. Then `./handoff test tests/unit` reinstalls .venv from the new pins.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

UV_VERSION=0.13.8
# The command, as written at the top of constraints.txt (paths relative to the repo root).
COMPILE=(uv pip compile pyproject.toml --extra dev
         --python-version 3.11 --python-platform x86_64-unknown-linux-gnu
         --no-header --output-file constraints.txt)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"

# uv reads the existing constraints.txt and keeps its pins unless told to upgrade.
UV_PYTHON_DOWNLOADS=never UV_CACHE_DIR="$tmp/cache" PATH="$tmp/venv/bin:$PATH" \
    "${COMPILE[@]}" --quiet "$@"

{
    echo "# Pinned versions of every runtime and dev dependency in pyproject.toml, transitively,"
    echo "# for Python 3.11 on Linux x86_64: the lock ./handoff (CI, developers) and deploy/Dockerfile"
    echo "# (images) install with, as pip install -c constraints.txt. Do not edit by hand."
    echo "# Regenerate with: deploy/lock-dependencies.sh [--upgrade | -P <package>]"
    echo "# which runs, in a throw-away venv with uv==$UV_VERSION:"
    echo "#    ${COMPILE[*]}"
    cat constraints.txt  # uv's output, without a header of its own (--no-header)
} > "$tmp/constraints.txt"
mv "$tmp/constraints.txt" constraints.txt
echo "lock-dependencies: wrote constraints.txt ($(grep -c '^[^# ].*==' constraints.txt) pins)" >&2

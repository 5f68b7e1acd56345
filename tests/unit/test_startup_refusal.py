"""A service started with a bad reviewed file exits with status 78 and one line saying where
the problems are: no traceback to read through."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from shared.service.startup import EX_CONFIG

CONFIG = Path(__file__).parents[2] / "config"


def test_a_bad_file_stops_the_service_with_one_line_naming_the_line_and_the_key_meant(tmp_path: Path) -> None:
    shutil.copytree(CONFIG, tmp_path, dirs_exist_ok=True)
    definition = tmp_path / "lead_definition.yaml"
    lines = definition.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  min_fit:"))
    lines[at] = lines[at].replace("min_fit:", "min_fitt:")
    definition.write_text("\n".join(lines) + "\n")

    env = {**os.environ, "HANDOFF_SCORING_CONFIG_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "uvicorn", "--factory", "services.scoring.app:create_app",
                          "--port", "0"], env=env, capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).parents[2])

    assert run.returncode == EX_CONFIG
    output = (run.stdout + run.stderr).strip().splitlines()
    assert len(output) == 1, output
    assert "Traceback" not in run.stderr
    record = json.loads(output[0])
    assert record["level"] == "CRITICAL" and record["service"] == "scoring"
    assert record["message"] == (f"scoring cannot start: {definition} is invalid (1 problem):\n"
                                 f"  {definition}:{at + 1}:3: qualification.min_fitt: not a known field "
                                 "(did you mean 'min_fit'?)")

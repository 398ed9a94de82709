"""The installed `billsim` console script, run as a user types it: in bash, with pipefail.

result = sh("billsim run reopen --out - | billsim check - --scenario reopen", tmp_path)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
BILLSIM = BIN / "billsim"


def sh(command: str, cwd: Path, *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`command` in bash with pipefail, the venv's console scripts first on PATH.

    PYTHONPATH is passed on: a checkout tested with `PYTHONPATH=.` (a git worktree beside
    an editable install of another) runs its own code in the console script too."""
    if not BILLSIM.is_file():
        pytest.fail(f"the console script is not installed at {BILLSIM}: pip install -e .")
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=cwd,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "LANG": "C.UTF-8", **_passed_on()},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _passed_on() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {} if path is None else {"PYTHONPATH": path}

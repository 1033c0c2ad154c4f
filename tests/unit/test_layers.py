"""Layer rules: core is pure; imports only point down (import-linter contract)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import atoll.core

FORBIDDEN = {"subprocess", "click", "textual", "psutil", "platformdirs", "socket", "asyncio"}


def test_core_imports_no_io_or_ui_modules() -> None:
    mods = [f"atoll.core.{m.name}" for m in pkgutil.iter_modules(atoll.core.__path__)]
    assert len(mods) >= 6
    code = (
        "import sys, json\n"
        f"for m in {mods!r}: __import__(m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert not (FORBIDDEN & loaded), f"core pulled in {sorted(FORBIDDEN & loaded)}"


def test_import_linter_contract_is_kept() -> None:
    root = Path(__file__).resolve().parents[2]
    lint = Path(sys.executable).parent / "lint-imports"
    res = subprocess.run([str(lint)], cwd=root, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-2000:]
    assert "broken" in res.stdout and "0 broken" in res.stdout

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


# The low-level exceptions, each for a reason subprocess cannot serve.
ALLOWED_PROCESS_CALLS = {
    "ledger/recorder.py: os.fork",  # the recorder daemonizes itself; it starts no program
    "exec/reaper.py: os.fork",  # the pane's first process: it must be the agent's parent
    "exec/reaper.py: os.execvp",  # (a subreaper), so it forks and execs the agent itself
    "islands/egress_forwarder.py: os.fork",  # runs inside an island (python3 -c), not in
    "islands/egress_forwarder.py: os.execvp",  # atoll: forks its forwarder, execs the agent
    "exec/cgjoin.py: os.execvp",  # joins the agent's cgroups, then becomes tmux (same pid)
}


def test_processes_are_started_only_by_exec_process() -> None:
    """Every child process goes through atoll.exec.process (no shell, the same environment
    rules, timeouts): no other module imports subprocess or calls os.system/popen/exec*,
    but for :data:`ALLOWED_PROCESS_CALLS`."""
    import ast

    src = Path(atoll.core.__file__).resolve().parents[1]
    offenders = []
    for path in sorted(src.rglob("*.py")):
        if path.relative_to(src).as_posix() == "exec/process.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "os" and node.attr in (
                        "system", "popen", "execv", "execvp", "execve", "execvpe", "spawnv",
                        "spawnvp", "posix_spawn", "posix_spawnp", "fork"):
                names = [f"os.{node.attr}"]
            offenders += [f"{path.relative_to(src)}: {n}" for n in names
                          if n == "subprocess" or n.startswith(("subprocess.", "os."))]
    assert sorted(set(offenders) - ALLOWED_PROCESS_CALLS) == []

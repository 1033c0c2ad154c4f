"""A tiny stdio MCP server for scripts/capture_states.py: one tool, ``touch_file``, that
Codex is told about through ``[mcp_servers.atoll_probe]`` in ``~/.codex/config.toml``. The
stand-in model API answers "use mcp" with a call to it, so the real Codex shows its MCP tool
approval dialog. Run with a Python that has the ``mcp`` SDK (atoll's .venv).
"""

from __future__ import annotations

from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("atoll_probe")


@server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True,
                                         openWorldHint=False))
def touch_file(path: str) -> str:
    """Create an empty file at ``path`` (relative to the working directory)."""
    Path(path).touch()
    return f"created {path}"


if __name__ == "__main__":
    server.run("stdio")

"""Driving ``atoll mcp`` as a real AI client would: the official SDK's client over stdio,
the server started as a given Linux user (runuser, a clean environment)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import Implementation

from tests.support.proc import atoll_bin

CLIENT = Implementation(name="atoll-test-client", version="9.8.7")


def server_params(user: str | None, env: dict[str, str]) -> StdioServerParameters:
    base = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8", **env}
    if user is None:
        return StdioServerParameters(command=atoll_bin(), args=["mcp"], env=base)
    import pwd

    pw = pwd.getpwnam(user)
    base.update({"HOME": pw.pw_dir, "USER": user, "LOGNAME": user})
    args = ["-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in base.items()),
            atoll_bin(), "mcp"]
    return StdioServerParameters(command="runuser", args=args, env={}, cwd=pw.pw_dir)


class Session:
    """One MCP client session; ``call`` returns (is_error, parsed result or error text)."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def call(self, tool: str, **args: Any) -> tuple[bool, Any]:
        res = await self.session.call_tool(tool, args)
        text = "".join(getattr(c, "text", "") for c in res.content)
        if res.is_error:
            return True, text
        if res.structured_content is not None:
            data = res.structured_content
            return False, data.get("result", data) if isinstance(data, dict) else data
        return False, json.loads(text) if text else None

    async def tools(self) -> list[str]:
        return sorted(t.name for t in (await self.session.list_tools()).tools)


@asynccontextmanager
async def connect(user: str | None, env: dict[str, str] | None = None) -> AsyncIterator[Session]:
    async with (stdio_client(server_params(user, env or {})) as (read, write),
                ClientSession(read, write, client_info=CLIENT) as session):
        await session.initialize()
        yield Session(session)

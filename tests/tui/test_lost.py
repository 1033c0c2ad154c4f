"""The fleet view lists a session whose tmux server died as ``lost`` (issue 18, point 1),
from its spec, with its own status style: real sessions on a throwaway socket, the server
killed for real, Textual's Pilot."""

from __future__ import annotations

import pytest

from atoll.service.context import Context
from atoll.tui import model

from .conftest import AppMaker, Starter, kill_server, status_of, wait_for
from .test_keys import SIZE, key, loaded


@pytest.mark.asyncio
async def test_a_dead_servers_sessions_are_listed_lost(
    start: Starter, make_app: AppMaker, ctx: Context,
) -> None:
    start("alpha")
    start("beta")
    kill_server(ctx.socket)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "alpha", "beta")
        await wait_for(pilot, lambda: status_of(app, "alpha") == "lost", "alpha lost")
        assert status_of(app, "beta") == "lost"
        row = app.fleet.table.get_row(key(ctx, "alpha"))
        assert row[6].plain == "lost" and str(row[6].style) == model.STATUS_STYLE["lost"]
        assert row[5].plain == ctx.operator  # BY, from the spec

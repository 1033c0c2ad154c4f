"""The error status and reasons reach every renderer: the table label, its colour on a
terminal, the JSON contract (also a peer's older JSON without ``reason``)."""

from __future__ import annotations

import msgspec

from atoll.cli.render import STATUS_SGR, table
from atoll.core.display import status_label
from atoll.core.models import STATUSES, HostRow, Listing, SessionRow, decode_listing, encode_listing
from atoll.tui.model import STATUS_ORDER, STATUS_STYLE


def row(status: str, reason: str | None) -> SessionRow:
    return SessionRow(host="local", name="s1", agent="claude", project="/p/app", worktree="",
                      agent_user="ana-agent", launched_by="ana", island="user",
                      status=status, idle_seconds=5, created=None,  # type: ignore[arg-type]
                      last_activity=None, attached=0, cpu_percent=None, rss_bytes=None,
                      pid=None, command="claude", exit_status=None, reason=reason)


def test_label_carries_the_reason_of_waiting_and_error_only() -> None:
    assert status_label(row("error", "login")) == "error(login)"
    assert status_label(row("waiting", "permission")) == "waiting(permission)"
    assert status_label(row("waiting", None)) == "waiting"
    assert status_label(row("idle", "login")) == "idle"


def test_table_colours_the_status_cell_only_when_asked() -> None:
    listing = Listing(hosts=[HostRow(host="local", reachable=True)],
                      sessions=[row("error", "rate-limit"), row("idle", None)])
    plain = table(listing, now=0.0)
    coloured = table(listing, now=0.0, color=True)
    assert "\x1b[" not in plain
    assert f"\x1b[{STATUS_SGR['error']}merror(rate-limit)\x1b[0m" in coloured
    # colour codes do not shift the columns
    strip = coloured.replace(f"\x1b[{STATUS_SGR['error']}m", "").replace("\x1b[0m", "")
    strip = strip.replace(f"\x1b[{STATUS_SGR['idle']}m", "")
    assert strip == plain


def test_json_has_reason_and_older_peers_still_parse() -> None:
    listing = Listing(hosts=[], sessions=[row("error", "model-unavailable")])
    data = encode_listing(listing)
    assert b'"status":"error"' in data and b'"reason":"model-unavailable"' in data
    old = msgspec.json.decode(data)
    del old["sessions"][0]["reason"]
    assert decode_listing(msgspec.json.encode(old)).sessions[0].reason is None


def test_every_status_has_a_fleet_view_colour_and_sort_place() -> None:
    for status in STATUSES:
        assert STATUS_STYLE[status] and status in STATUS_ORDER
    assert STATUS_ORDER["waiting"] < STATUS_ORDER["error"] < STATUS_ORDER["running"]

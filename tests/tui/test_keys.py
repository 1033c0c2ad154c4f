"""Every key of the fleet view, driven with Textual's Pilot against real tmux sessions on a
throwaway socket (made with the service layer). Attach is checked by the argv it would exec;
tests/tui/test_terminal.py attaches for real."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from atoll.exec.runner import Local
from atoll.service.context import Context
from atoll.tmux.client import TmuxClient
from atoll.tui.app import FleetApp
from atoll.tui.screens import ConfirmScreen, HelpScreen, NewSessionScreen, TypeScreen
from tests.support.users import UserFactory

from .conftest import AppMaker, Recorder, Starter, names, screen_of, status_of, wait_for

SIZE = (160, 40)


def key(ctx: Context, name: str) -> str:
    return f"local\x1f{ctx.operator}\x1f{name}"


def session_id(ctx: Context, name: str) -> str:
    """tmux's own id (``$N``) of session ``name`` on the test server."""
    return next(p.session_id for p in TmuxClient(Local(), ctx.socket).list_panes()
                if p.session_name == name)


async def loaded(pilot: Pilot[None], app: FleetApp, *want: str) -> None:
    await wait_for(pilot, lambda: set(want) <= set(names(app)), f"rows {want}")


def wait_dead(ctx: Context, name: str) -> None:
    """The view lists once (no refresh timer in these tests): let the pane die first, or it
    is listed running (its first process, the reaper, takes a python start-up to exit)."""
    import time

    client = TmuxClient(Local(), ctx.socket)
    deadline = time.monotonic() + 30
    while not any(p.session_name == name and p.pane_dead for p in client.list_panes()):
        assert time.monotonic() < deadline, f"{name} never exited"
        time.sleep(0.1)


@pytest.mark.asyncio
async def test_lists_real_sessions_with_header(
    start: Starter,
    make_app: AppMaker,
    ctx: Context,
) -> None:
    start("alpha")
    start("beta")
    start("crash", "exit 3")
    wait_dead(ctx, "crash")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "alpha", "beta", "crash")
        await wait_for(pilot, lambda: status_of(app, "crash") == "exited", "crash exited")
        assert names(app)[-1] == "crash"  # status sort: exited after running and idle
        summary = app.fleet.query_one("#summary").render()
        assert "hosts 1/1" in str(summary) and "sessions 3" in str(summary)
        row = app.fleet.table.get_row(key(ctx, "crash"))
        assert [c.plain for c in row][:2] == ["local", "crash"]
        assert row[6].plain == "exited(3)" and "red" in str(row[6].style)
        assert row[8].justify == "right"  # CPU


@pytest.mark.asyncio
async def test_enter_attaches_with_the_planned_argv(
    start: Starter,
    make_app: AppMaker,
    recorder: Recorder,
    tui_socket: str,
    ctx: Context,
) -> None:
    start("alpha")
    start("beta")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "alpha", "beta")
        await pilot.press("slash", *"beta", "enter")  # filter to beta, back to the table
        assert names(app) == ["beta"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: recorder.calls, "attach")
        argv, unset_tmux = recorder.calls[0]
        # by tmux's id of the listed session, never by its name (see the re-made test below)
        assert argv == ["tmux", "-L", tui_socket, "attach-session", "-t", session_id(ctx, "beta")]
        assert unset_tmux
        await wait_for(pilot, lambda: "back from beta" in app.fleet.message, "return message")
        assert app.fleet.filter_text == "beta" and names(app) == ["beta"]
        assert app.fleet.table.selected_key() is not None
        assert app.fleet.table.selected_key().endswith("\x1fbeta")  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_r_watches_read_only(
    start: Starter,
    make_app: AppMaker,
    recorder: Recorder,
    tui_socket: str,
    ctx: Context,
) -> None:
    start("alpha")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "alpha")
        await pilot.press("r")
        await wait_for(pilot, lambda: recorder.calls, "watch")
        assert recorder.calls[0][0] == ["tmux", "-L", tui_socket, "attach-session", "-t",
                                        session_id(ctx, "alpha"), "-r"]


@pytest.mark.asyncio
async def test_attach_error_is_a_status_line(
    start: Starter,
    make_app: AppMaker,
    ctx: Context,
    recorder: Recorder,
) -> None:
    start("alpha")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "alpha")
        TmuxClient(Local(), ctx.socket).kill_session("alpha")  # gone behind the view's back
        await pilot.press("enter")
        await wait_for(pilot, lambda: "attach alpha:" in app.fleet.message, "error line")
        assert "'alpha' is gone since it was listed" in app.fleet.message
        assert not recorder.calls


@pytest.mark.asyncio
@pytest.mark.parametrize("keys", [("enter",), ("ctrl+d", "y"), ("t", *"rm", "enter")])
@pytest.mark.parametrize("same_server", [True, False])
async def test_a_session_made_again_under_its_name_is_never_the_one_acted_on(
    start: Starter,
    make_app: AppMaker,
    ctx: Context,
    recorder: Recorder,
    keys: tuple[str, ...],
    same_server: bool,
) -> None:
    """List, then kill the session and make a new one of the same name behind the view's
    back: attach, kill and type on the old row are refused with a clear line, and the new
    session is untouched (not attached, not killed, nothing typed). With another session
    keeping the server, the new one has another id; without, the server is new and tmux
    starts again at ``$0``, the old row's id: only the server's pid tells them apart."""
    if same_server:
        start("keeper")
    start("alpha")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "alpha")
        old = session_id(ctx, "alpha")
        client = TmuxClient(Local(), ctx.socket)
        client.kill_session("alpha")
        start("alpha", "echo new-one; exec sleep 300")
        new = session_id(ctx, "alpha")
        assert (new != old) == same_server
        await pilot.press(*keys)
        await wait_for(pilot, lambda: "made again since it was listed" in app.fleet.message,
                       "the refusal")
        assert f"it was {old} of tmux server" in app.fleet.message
        assert f"it is now {new} of server" in app.fleet.message
        assert "nothing was done" in app.fleet.message
        assert not recorder.calls  # nothing attached
        assert session_id(ctx, "alpha") == new  # not killed
        screen = client.capture("alpha")
        assert "new-one" in screen and "rm" not in screen.replace("new-one", "")  # nothing typed


@pytest.mark.asyncio
async def test_p_shows_a_live_preview(start: Starter, make_app: AppMaker, ctx: Context) -> None:
    start("alpha", "echo first-screen-line; exec bash --norc")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "alpha")
        preview = app.fleet.query_one("#preview")
        assert not preview.display
        await pilot.press("p")
        assert preview.display
        await wait_for(pilot, lambda: "first-screen-line" in str(preview.render()), "preview")
        TmuxClient(Local(), ctx.socket).send_literal("alpha", "echo later-line")
        TmuxClient(Local(), ctx.socket).send_enter("alpha")
        await pilot.press("R")  # a refresh also refreshes the open preview
        await wait_for(pilot, lambda: "later-line" in str(preview.render()), "live preview")
        await pilot.press("p")
        assert not preview.display


ECHO = 'read -r line; echo "got:$line"; exec sleep 600'


@pytest.mark.asyncio
async def test_t_types_literally_and_enter_needs_a_second_yes(
    start: Starter,
    make_app: AppMaker,
    ctx: Context,
) -> None:
    start("asker", ECHO)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "asker")
        await pilot.press("t")
        assert isinstance(app.screen, TypeScreen)
        await pilot.press(*"hello", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "Enter question")
        await wait_for(pilot, lambda: "hello" in screen_of(ctx, "asker"), "typed text")
        assert "got:" not in screen_of(ctx, "asker")  # typed, but Enter not pressed
        await pilot.press("enter")  # the focused button is No: a stray Enter never confirms
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "closed")
        assert "Enter not pressed" in app.fleet.message
        assert "got:" not in screen_of(ctx, "asker")
        await pilot.press("t", "enter")  # empty line: only the Enter question
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "question")
        await pilot.press("y")
        await wait_for(pilot, lambda: "got:hello" in screen_of(ctx, "asker"), "Enter pressed")
        await wait_for(pilot, lambda: "pressed Enter" in app.fleet.message, "message")


@pytest.mark.asyncio
async def test_t_escape_cancels(start: Starter, make_app: AppMaker, ctx: Context) -> None:
    start("asker", ECHO)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "asker")
        await pilot.press("t", *"nope", "escape")
        assert not isinstance(app.screen, TypeScreen)
        assert app.fleet.message == "typing cancelled"
        assert "nope" not in screen_of(ctx, "asker")


@pytest.mark.asyncio
async def test_n_creates_a_session(make_app: AppMaker, ctx: Context, workdir: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.fleet.statuses is not None, "first listing")
        await pilot.press("n")
        assert isinstance(app.screen, NewSessionScreen)
        directory = app.screen.query_one("#directory", Input)
        assert directory.value == str(workdir)
        await pilot.press(*"bad name", "enter")  # validated in the dialog
        assert isinstance(app.screen, NewSessionScreen)
        assert "session name" in str(app.screen.query_one("#error").render()).lower()
        app.screen.query_one("#name", Input).value = "fresh"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "fresh" in names(app), "new row")
        assert TmuxClient(Local(), ctx.socket).has_session("fresh")
        assert app.fleet.table.selected_key() == key(ctx, "fresh")  # the new one is selected
        row = app.fleet.rows[key(ctx, "fresh")]
        assert row.agent == "shell" and row.launched_by == ctx.operator


@pytest.mark.asyncio
async def test_n_error_from_the_service_is_a_status_line(
    start: Starter,
    make_app: AppMaker,
) -> None:
    start("taken")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "taken")
        await pilot.press("n")
        app.screen.query_one("#directory", Input).value = "/tmp"
        await pilot.press(*"taken", "enter")
        await wait_for(pilot, lambda: "new taken:" in app.fleet.message, "error")
        assert "already exists" in app.fleet.message
        # the form is back with what was typed, and says why
        await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen), "form again")
        assert app.screen.query_one("#name", Input).value == "taken"
        assert app.screen.query_one("#directory", Input).value == "/tmp"
        assert "already exists" in str(app.screen.query_one("#error").render())
        app.screen.query_one("#name", Input).value = "taken2"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "taken2" in names(app), "the corrected one")


@pytest.mark.asyncio
async def test_n_directory_follows_the_chosen_agent_user(make_app: AppMaker, workdir: Path,
                                                         users: UserFactory) -> None:
    from textual.widgets import Select

    agent = users.user(users.name("tn", "-agent"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.fleet.statuses is not None, "first listing")
        dialog = NewSessionScreen("root", str(workdir), [agent])
        app.push_screen(dialog)
        await pilot.pause()
        field = dialog.query_one("#directory", Input)
        assert field.value == str(workdir)
        dialog.query_one("#user", Select).value = agent
        await pilot.pause()
        assert field.value == f"/home/{agent}"  # one the agent user can enter
        dialog.query_one("#user", Select).value = "root"
        await pilot.pause()
        assert field.value == str(workdir)
        field.value = "/srv/mine"  # typed by the person: kept whatever user is chosen
        dialog.query_one("#user", Select).value = agent
        await pilot.pause()
        assert field.value == "/srv/mine"


@pytest.mark.asyncio
async def test_n_starts_on_the_default_agent_user_and_you_means_you(
        make_app: AppMaker, workdir: Path, users: UserFactory) -> None:
    from textual.widgets import Select

    agent = users.user(users.name("td", "-agent"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.fleet.statuses is not None, "first listing")
        dialog = NewSessionScreen("root", str(workdir), None)  # users not probed yet
        app.push_screen(dialog)
        await pilot.pause()
        dialog.set_users([agent], default=agent)  # what `atoll new` without --as picks
        await pilot.pause()
        assert dialog.query_one("#user", Select).value == agent
        assert dialog.query_one("#directory", Input).value == f"/home/{agent}"
        dialog.query_one("#name", Input).value = "x1"
        assert dialog._request().as_user == agent
        dialog.query_one("#user", Select).value = "root"
        await pilot.pause()
        assert dialog._request().as_user == "root"  # explicit, as `new --as $USER`


@pytest.mark.asyncio
async def test_ctrl_d_kills_after_confirmation(
    start: Starter,
    make_app: AppMaker,
    ctx: Context,
) -> None:
    start("alpha")
    start("victim")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "alpha", "victim")
        app.fleet.table.select_key(key(ctx, "victim"))
        await pilot.press("ctrl+d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert "not killed" in app.fleet.message
        assert TmuxClient(Local(), ctx.socket).has_session("victim")
        await pilot.press("ctrl+d", "y")
        await wait_for(pilot, lambda: "victim" not in names(app), "row removed")
        assert not TmuxClient(Local(), ctx.socket).has_session("victim")
        assert names(app) == ["alpha"]


@pytest.mark.asyncio
async def test_slash_filters_across_columns(start: Starter, make_app: AppMaker,
                                           ctx: Context) -> None:
    start("alpha")
    start("beta")
    start("crash", "exit 3")
    wait_dead(ctx, "crash")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "alpha", "beta", "crash")
        await wait_for(pilot, lambda: status_of(app, "crash") == "exited", "crash exited")
        await pilot.press("slash", *"exited")  # the STATUS column
        assert names(app) == ["crash"]
        assert isinstance(app.focused, Input)
        await pilot.press("enter")
        assert not isinstance(app.focused, Input) and names(app) == ["crash"]
        await pilot.press("escape")
        assert sorted(names(app)) == ["alpha", "beta", "crash"]
        await pilot.press("slash", *"proj alp")  # every word must match (PROJECT and NAME)
        assert names(app) == ["alpha"]
        await pilot.press("escape")
        assert app.fleet.filter_text == "" and len(names(app)) == 3


WAITING = "printf 'Proceed? (y/n) '; exec sleep 600"


@pytest.mark.asyncio
async def test_s_cycles_sorts_status_first(start: Starter, make_app: AppMaker) -> None:
    start("b-crash", "exit 1")
    start("c-ask", WAITING)
    start("a-shell")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "a-shell", "b-crash", "c-ask")
        await wait_for(pilot, lambda: status_of(app, "c-ask") == "waiting", "waiting")
        await wait_for(pilot, lambda: status_of(app, "b-crash") == "exited", "exited")
        assert names(app) == ["c-ask", "a-shell", "b-crash"]
        await pilot.press("s")
        assert app.fleet.sort_mode == "name"
        assert names(app) == ["a-shell", "b-crash", "c-ask"]
        for _ in range(6):
            await pilot.press("s")
        assert app.fleet.sort_mode == "status"
        assert names(app) == ["c-ask", "a-shell", "b-crash"]


@pytest.mark.asyncio
async def test_g_groups_by_host_then_project_then_person(start: Starter, make_app: AppMaker) -> None:
    start("alpha")
    start("beta")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "alpha", "beta")
        await pilot.press("g")
        assert app.fleet.group_mode == "host"
        order = app.fleet.table.order
        assert order[0] == "\x1egroup\x1flocal" and len(order) == 3
        assert app.fleet.table.get_row(order[0])[0].plain == "▾ local · 2"
        await pilot.press("g")
        assert app.fleet.group_mode == "project"
        assert app.fleet.table.order[0] == "\x1egroup\x1fproj"
        await pilot.press("up", "enter")  # on the heading: nothing to attach to
        assert "select a session" in app.fleet.message
        await pilot.press("g")
        assert app.fleet.group_mode == "person"
        me = app.fleet.options.operator
        order = app.fleet.table.order
        assert order[0] == f"\x1egroup\x1f{me}" and len(order) == 3
        assert app.fleet.table.get_row(order[0])[0].plain == f"▾ {me} · 2 (as {me})"
        await pilot.press("g")
        assert app.fleet.group_mode == "none" and len(app.fleet.table.order) == 2


@pytest.mark.asyncio
async def test_R_refreshes_now(start: Starter, make_app: AppMaker) -> None:
    start("alpha")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "alpha")
        start("late")
        await pilot.press("R")
        await wait_for(pilot, lambda: "late" in names(app), "late row")


@pytest.mark.asyncio
async def test_question_mark_help_lists_every_key(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#keys").render())
        for label in ("Enter", "Ctrl-D", "/", "?", "attach", "kill", "filter", "quit"):
            assert label in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.asyncio
async def test_q_quits(make_app: AppMaker) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, "exit")


@pytest.mark.asyncio
async def test_read_only_hides_and_refuses_changes(
    start: Starter,
    make_app: AppMaker,
    ctx: Context,
    recorder: Recorder,
    tui_socket: str,
) -> None:
    start("alpha", ECHO)
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "alpha")
        shown = {b.binding.action for b in app.active_bindings.values()}
        assert {"watch", "preview", "filter", "quit"} <= shown
        assert not shown & {"attach", "screen.attach", "type", "new", "kill"}
        for press, word in (("enter", "attach"), ("t", "type"), ("n", "new"),
                            ("ctrl+d", "kill")):
            await pilot.press(press)
            assert app.screen is app.fleet, press
            assert f"read-only view: {word} is disabled" in app.fleet.message
        app.fleet.action_kill()  # not even reachable by calling the action
        app.fleet.action_type()
        app.fleet.action_new()
        app.fleet.action_attach()
        assert app.screen is app.fleet
        await pilot.pause()
        assert TmuxClient(Local(), ctx.socket).has_session("alpha") and not recorder.calls
        assert "READ-ONLY" in str(app.fleet.query_one("#summary").render())
        await pilot.press("r")  # watching changes nothing: allowed
        await wait_for(pilot, lambda: recorder.calls, "watch")
        assert recorder.calls[0][0][-1] == "-r"


@pytest.mark.asyncio
async def test_refresh_failure_is_shown_not_raised(
    start: Starter,
    make_app: AppMaker,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    start("alpha")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "alpha")
        with monkeypatch.context() as env:
            env.setenv("PATH", str(tmp_path))  # tmux cannot be found any more
            await pilot.press("R")
            await wait_for(pilot, lambda: "program not found" in str(
                app.fleet.query_one("#summary").render()), "host problem in the header")
        assert app.is_running


@pytest.mark.asyncio
async def test_only_the_newest_refresh_is_shown(start: Starter, make_app: AppMaker) -> None:
    start("alpha")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app, "alpha")
        dropped = app.fleet.refreshes_dropped
        app.fleet.start_refresh()
        app.fleet.start_refresh()  # started later: the first result is now stale
        await wait_for(pilot, lambda: app.fleet.refreshes_dropped == dropped + 1,
                       "the older refresh's result dropped")
        await wait_for(pilot, lambda: not app.fleet.refresh_in_flight, "both refreshes")
        assert app.fleet.refreshes_dropped == dropped + 1

"""``atoll audit``: show, verify and checkpoint the ledger; check a session's transcript.

Errors are AtollError subclasses (the main CLI prints ``atoll: error: ...`` and exits with
``err.exit_code``): ``verify`` exits 1 naming the first bad seq, ``checkpoint --to HOST``
exits 5 when the witness is unreachable (the local checkpoint is kept).

The ledger is the operator's unless ``--ledger PATH`` or the configured ``ledger_path``
names another one.
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import click
import msgspec

from atoll.core.chain import VerifyReport
from atoll.core.display import aligned
from atoll.core.errors import AtollError, UsageError
from atoll.core.names import validate_host_name
from atoll.exec import Ssh
from atoll.ledger.audit import Actor, Audit, this_host
from atoll.ledger.checkpoint import (
    CheckpointStore,
    checkpoints_path,
    fetch_witness,
    key_id_of,
    load_or_create_key,
    load_public_key,
    make_checkpoint,
    push_witness,
    verify_ledger,
)
from atoll.ledger.errors import LedgerTamperedError
from atoll.ledger.store import Ledger, ledger_path
from atoll.ledger.transcript import check_transcript

Event = dict[str, object]
COLUMNS = ("SEQ", "TIME", "HOST", "ACTOR", "ACTION", "OUTCOME", "TARGET", "DETAILS")
DETAILS_WIDTH = 72
_DURATION = re.compile(r"([0-9]{1,15})([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _ledger(ctx: click.Context) -> Ledger:
    """``--ledger PATH``, else the configured ``ledger_path``, else the operator's."""
    chosen = ctx.meta.get("atoll.ledger_option")
    if not chosen:
        from atoll.service.context import context_from_environment

        chosen = context_from_environment().ledger_path
    return Ledger(ledger_path(chosen))


def _machine() -> str:
    """This machine's name, as ledger records, checkpoints and witness files name it."""
    return this_host()


def parse_when(text: str, now: datetime) -> datetime:
    """``--since``/``--until`` values: RFC 3339 / ISO 8601 (no offset: UTC), a date, or an
    age like ``30m``, ``2h``, ``7d`` before ``now``. Raises UsageError."""
    m = _DURATION.fullmatch(text.strip())
    if m:
        try:
            return now - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
        except OverflowError:  # timedelta holds at most 999,999,999 days
            raise UsageError(f"invalid time {text[:64]!r}: too far in the past") from None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"invalid time {text[:64]!r}: use RFC 3339 (2026-11-20T12:00:00Z), a date, or 30m/2h/7d"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _event_time(event: Event) -> datetime | None:
    value = event.get("time")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _field(event: Event, key: str) -> Mapping[str, object]:
    value = event.get(key)
    return value if isinstance(value, dict) else {}


def _session_matches(value: object, wanted: str) -> bool:
    """``NAME`` matches ``NAME`` and ``HOST:NAME``; ``HOST:NAME`` matches itself and ``NAME``."""
    if not isinstance(value, str):
        return False
    if value == wanted:
        return True
    if ":" in value and ":" in wanted:
        return False
    return value.split(":", 1)[-1] == wanted.split(":", 1)[-1]


def _action_matches(value: object, wanted: str) -> bool:
    if not isinstance(value, str):
        return False
    if any(c in wanted for c in "*?["):
        return fnmatch.fnmatchcase(value, wanted)
    return value == wanted or value.startswith(wanted + ".")


def _actor_matches(event: Event, wanted: str) -> bool:
    actor = _field(event, "actor")
    names = {str(actor.get("user")), str(actor.get("sudo_user")), str(actor.get("uid"))}
    return wanted in names


def select(
    events: Iterable[Event],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    session: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    last: int | None = None,
) -> list[Event]:
    """The events that pass every given filter, oldest first, at most the ``last`` N."""
    out: list[Event] = []
    for event in events:
        if since is not None or until is not None:
            when = _event_time(event)
            if when is None or (since and when < since) or (until and when > until):
                continue
        if session is not None and not _session_matches(
            _field(event, "target").get("session"), session
        ):
            continue
        if actor is not None and not _actor_matches(event, actor):
            continue
        if action is not None and not _action_matches(event.get("action"), action):
            continue
        out.append(event)
    if last is not None:
        out = out[-last:] if last > 0 else []
    return out


def safe_text(text: str) -> str:
    """``text`` with control and format characters (C0, C1, DEL, bidi overrides, ...) shown
    as escapes, so ledger contents cannot drive the terminal."""
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def _actor_label(event: Event) -> str:
    actor = _field(event, "actor")
    label = str(actor.get("user") or actor.get("uid") or "-")
    if actor.get("sudo_user"):
        label += f"(sudo:{actor['sudo_user']})"
    return label


def _cells(event: Event) -> tuple[str, ...]:
    target = " ".join(f"{k}={v}" for k, v in _field(event, "target").items())
    details = msgspec.json.encode(event.get("details") or {}).decode()
    if len(details) > DETAILS_WIDTH:
        details = details[: DETAILS_WIDTH - 1] + "…"
    cells = (
        str(event.get("seq", "-")),
        str(event.get("time", "-")),
        str(event.get("host", "-")),
        _actor_label(event),
        str(event.get("action", "-")),
        str(event.get("outcome", "-")),
        target or "-",
        details,
    )
    return tuple(safe_text(c) for c in cells)


def table(events: list[Event]) -> str:
    """Aligned columns (SEQ right-aligned), one row per event."""
    return "\n".join(aligned(COLUMNS, [_cells(e) for e in events], frozenset({"SEQ"})))


def report_json(report: VerifyReport) -> dict[str, object]:
    """A verify report as a JSON-ready dict."""
    cp = report.checkpoint
    return {
        "ok": report.ok,
        "size": report.size,
        "lines": report.lines,
        "last_seq": report.last_seq,
        "head": report.head,
        "checkpoint": msgspec.structs.asdict(cp) if cp is not None else None,
        "problems": [
            {"kind": p.kind.value, "seq": p.seq, "line": p.line, "detail": p.detail}
            for p in report.problems
        ],
    }


@click.group("audit", invoke_without_command=True)
@click.option("--ledger", "ledger_file", metavar="PATH", default=None,
              help="Ledger file (default: the operator's, or the configured host-wide one).")
@click.option("--host-ledger", is_flag=True,
              help="This host's ledger (every operator's actions here; `atoll admin init`).")
@click.pass_context
def audit_group(ctx: click.Context, ledger_file: str | None, host_ledger: bool) -> None:
    """Show and verify the ledger of actions on this host (no command: show)."""
    if ledger_file and host_ledger:
        raise UsageError("use only one of --ledger and --host-ledger")
    if host_ledger:
        from atoll.ledger.hostledger import HOST_LEDGER_PATH

        ledger_file = HOST_LEDGER_PATH
    if ledger_file:
        ctx.meta["atoll.ledger_option"] = ledger_file
    if ctx.invoked_subcommand is None:
        ctx.invoke(show_cmd)


def _host_ledger_opt(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    """``show --host-ledger`` / ``verify --host-ledger``: as ``audit --host-ledger``."""
    if value:
        from atoll.ledger.hostledger import HOST_LEDGER_PATH

        ctx.meta["atoll.ledger_option"] = HOST_LEDGER_PATH
    return value


host_ledger_opt = click.option("--host-ledger", is_flag=True, expose_value=False,
                               is_eager=True, callback=_host_ledger_opt,
                               help="This host's ledger (every operator's actions here).")


@audit_group.command("show")
@host_ledger_opt
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array of events.")
@click.option("--since", metavar="T", help="Only events at or after T (RFC 3339, date, or 2h).")
@click.option("--until", metavar="T", help="Only events at or before T.")
@click.option("--session", metavar="S", help="Only events whose target session is S.")
@click.option("--actor", metavar="A", help="Only events by user (or sudo user, or uid) A.")
@click.option("--action", metavar="X", help="Only action X (session.kill), a prefix (session), "
              "or a glob (grant.*).")
@click.option("-n", "last", type=click.IntRange(min=0), default=None, metavar="N",
              help="Only the last N matching events.")
@click.pass_context
def show_cmd(ctx: click.Context, as_json: bool, since: str | None, until: str | None,
             session: str | None, actor: str | None, action: str | None,
             last: int | None) -> None:
    """List ledger events, oldest first (does not verify them; see `atoll audit verify`)."""
    now = datetime.now(UTC)
    events = select(
        _ledger(ctx).iter_events(),
        since=parse_when(since, now) if since else None,
        until=parse_when(until, now) if until else None,
        session=session,
        actor=actor,
        action=action,
        last=last,
    )
    if as_json:
        click.echo(msgspec.json.encode(events).decode())
    else:
        click.echo(table(events))


@audit_group.command("verify")
@host_ledger_opt
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--witness", metavar="HOST",
              help="Also use the checkpoints a witness host keeps for this one.")
@click.pass_context
def verify_cmd(ctx: click.Context, as_json: bool, witness: str | None) -> None:
    """Check the hash chain, seq numbering and the newest signed checkpoint.

    Without --ledger/--host-ledger, this host's ledger is verified too when it exists and
    you may read it. Exit 0 when intact; exit 1 with one line naming the first bad seq and
    the problem.
    """
    ledger = _ledger(ctx)
    if not ctx.meta.get("atoll.ledger_option"):
        _verify_host_ledger(as_json)
    public = load_public_key()
    witness_data = None
    if witness:
        if public is None:
            raise UsageError("no ledger key yet, so no witness copy can be checked")
        witness_data = fetch_witness(
            Ssh(validate_host_name(witness)), origin=_machine(), key_id=key_id_of(public)
        )
    report = verify_ledger(ledger, public=public, witness=witness_data)
    if as_json:
        click.echo(msgspec.json.encode(report_json(report)).decode())
    if not report.ok:
        raise LedgerTamperedError(f"ledger {ledger.path}: {report.summary()}")
    if not as_json:
        hint = "" if report.checkpoint else "; no checkpoint yet (run: atoll audit checkpoint)"
        click.echo(f"ledger {ledger.path}: {report.summary()}{hint}")


def _verify_host_ledger(as_json: bool) -> None:
    import os

    from atoll.ledger.hostledger import HOST_LEDGER_PATH

    if not os.access(HOST_LEDGER_PATH, os.R_OK):
        return
    host = Ledger(HOST_LEDGER_PATH)
    report = verify_ledger(host, public=load_public_key())
    if not report.ok:
        raise LedgerTamperedError(f"host ledger {host.path}: {report.summary()}")
    if not as_json:
        click.echo(f"host ledger {host.path}: {report.summary()}")


@audit_group.command("checkpoint")
@click.option("--to", "to_host", metavar="HOST",
              help="Also store the checkpoint on this witness host (over SSH).")
@click.pass_context
def checkpoint_cmd(ctx: click.Context, to_host: str | None) -> None:
    """Sign the ledger's current size and head with the operator's key and store it apart
    from the ledger (and on a witness host with --to). Refuses a ledger that fails verify."""
    ledger = _ledger(ctx)
    if to_host:
        validate_host_name(to_host)
    key = load_or_create_key()
    audit = Audit(ledger, _machine(), Actor.current())
    store = CheckpointStore(checkpoints_path(ledger.path))
    target = {"ledger": str(ledger.path)}
    # Both records are written before signing, so the checkpoint covers the whole ledger as
    # the command leaves it: deleting its own last record afterwards is caught by verify.
    # A failure after that (signing refused, witness unreachable) appends an ``error``
    # record for the same intent.
    intent = audit.event("audit.checkpoint", target, "intent",
                         {"key_id": key.key_id, "witness": to_host})
    audit.event("audit.checkpoint", target, "ok", {"intent": intent["seq"]})
    try:
        signed = make_checkpoint(ledger, host=_machine(), key=key, store=store)
        where = ""
        if to_host:
            remote = push_witness(signed, Ssh(to_host), origin=_machine())
            where = f", witness {to_host}:{remote}"
    except AtollError as exc:
        audit.event("audit.checkpoint", target, "error",
                    {"intent": intent["seq"], "error": str(exc).splitlines()[0][:500]})
        raise
    click.echo(
        f"checkpoint: seq {signed.seq}, {signed.size} bytes, head {signed.head[:16]}, "
        f"key {signed.key_id}{where}"
    )


@audit_group.command("transcript")
@click.argument("session")
@click.pass_context
def transcript_cmd(ctx: click.Context, session: str) -> None:
    """Check the newest transcript of SESSION against its ledger record.

    Prints PATH, its SHA-256 and `matches`, `open` (still recording) or exits 1 when the
    file differs from what the recorder logged.
    """
    path, sha, matches = check_transcript(session, _ledger(ctx))
    if matches is False:
        state = "missing" if sha is None else f"sha256 {sha}"
        raise LedgerTamperedError(
            f"transcript {path} does not match its ledger record ({state})"
        )
    click.echo(f"{path}  sha256 {sha}  {'matches' if matches else 'open'}")


@audit_group.command("crossings")
@click.argument("target", metavar="[TARGET]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--as", "as_user", metavar="USER", help="Agent user whose session TARGET is.")
@click.pass_context
def crossings_cmd(ctx: click.Context, target: str | None, as_json: bool,
                  as_user: str | None) -> None:
    """What crossed an island's boundary, and who granted it: every read and write
    through a grant, intake and export (any `crossing.*` record), with bytes and SHA-256.

    TARGET is a session (its island is looked up) or an island key as the records name it
    (`user:AGENT`, `bwrap:AGENT:ID`, `docker:CONTAINER`); none: every island.
    """
    from atoll.core.crossings import crossing_rows

    island = None
    if target:
        if target.startswith(("user:", "bwrap:", "docker:", "podman:")):
            island = target
        else:
            from atoll.service.context import context_from_environment
            from atoll.service.grants import place_of

            island = place_of(context_from_environment(), target, as_user).key
    rows = crossing_rows(_ledger(ctx).iter_events(), island)
    if as_json:
        click.echo(msgspec.json.encode({"island": island, "crossings": rows,
                                        "schema_version": 1}).decode())
        return
    cols = ("SEQ", "TIME", "ACTION", "STATE", "ISLAND", "PATH", "BYTES", "SHA256", "GRANTED BY")
    out: list[tuple[str, ...]] = []
    for r in rows:
        by = r["granted_by"] if isinstance(r["granted_by"], dict) else {}
        out.append((str(r["seq"]), str(r["time"] or ""), r["action"], r["state"],
                    _clean(str(r["island"] or "")), _clean(r["path"]),
                    "" if r["bytes"] is None else str(r["bytes"]),
                    str(r["sha256"] or "")[:16], str(by.get("user", ""))))
    for line in aligned(cols, out, right=frozenset({"SEQ", "BYTES"})):
        click.echo(line)


def _clean(text: str) -> str:
    """Control characters shown as '?' (a path may hold anything the agent named a file)."""
    return "".join(c if c.isprintable() else "?" for c in text)[:120]

"""`./handoff ops ...` / `python -m ops ...`: look at the broker, the dead letters, the outbox rows
Kafka refused, and a lead's story.

Expected failures (broker, database or service away, unknown topic, nothing at that offset) print one
line on stderr and exit with 2 (unreachable) or 1 (anything else); never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from pydantic import ValidationError

from ops import defaults
from ops.errors import OpsError
from ops.kafka_io import as_ops_error
from shared.kafka.clients import KafkaFailed, KafkaUnreachable
from shared.kafka.security import KafkaConnection, problems_of

if TYPE_CHECKING:
    from ops.streams import Hide

T = TypeVar("T")

app = typer.Typer(
    name="ops",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Operator's tools: topics and consumer lag, tail a topic, dead letters (list, show, replay), "
         "refused outbox rows (list, show, replay, discard), a lead's timeline, the audit log.",
)
letters_app = typer.Typer(no_args_is_help=True, help="Records a consumer gave up on: list, show, replay.")
app.add_typer(letters_app, name="dead-letters")
refused_app = typer.Typer(no_args_is_help=True, help="Outbox rows Kafka refused for good (too large, invalid or "
                                                     "forbidden topic): list, show, replay, discard.")
app.add_typer(refused_app, name="refused")

_BOOTSTRAP = typer.Option(
    None, "--bootstrap", metavar="HOST:PORT",
    help=f"Kafka bootstrap servers [default: ${defaults.BOOTSTRAP_ENV}, else the local stack's broker].",
)
_JSON = typer.Option(False, "--json", help="Machine-readable JSON instead of text.")
_DATABASE = typer.Option(
    None, "--database-url", metavar="URL",
    help=f"The services' PostgreSQL [default: ${defaults.DATABASE_URL_ENV}, else the local stack's].",
)
_SERVICE = typer.Argument(..., help="The service whose outbox the row left: intake, scoring, routing or feedback.")
_IDS = typer.Argument(..., min=1, help="Refused row ids, as `ops refused list` shows them.")


_settings = {"verbose": False}


@app.callback()
def _options(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the Kafka client's own log.")) -> None:
    _settings["verbose"] = verbose


async def _hiding_erased(database_url: str | None, work: Callable[[Hide], Awaitable[T]]) -> T:
    """``work`` with the erasure register at hand: it shows nothing of an erased person."""
    from ops.erased import ErasedLeads

    leads = ErasedLeads(defaults.database_url(database_url))
    try:
        return await work(leads.hide)
    finally:
        await leads.close()


def _fail(error: OpsError) -> typer.Exit:
    typer.echo(f"ops: error: {error}", err=True)
    return typer.Exit(error.exit_code)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    # aiokafka logs every failed connection attempt; the tool says it once, in its own words
    kafka_log = logging.getLogger("aiokafka")
    previous = kafka_log.level
    if not _settings["verbose"]:
        kafka_log.setLevel(logging.CRITICAL)
    try:
        return asyncio.run(coro)
    except OpsError as exc:
        raise _fail(exc) from None
    except (KafkaUnreachable, KafkaFailed) as exc:
        raise _fail(as_ops_error(exc)) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    finally:
        kafka_log.setLevel(previous)


def _json(data: Any, *, indent: int | None = 2) -> str:
    return json.dumps(data, indent=indent, ensure_ascii=False, default=str)


def _bootstrap(option: str | None) -> KafkaConnection:
    """The broker and how to reach it (the HANDOFF_KAFKA_* security variables)."""
    try:
        return defaults.kafka_connection(option)
    except ValidationError as exc:
        raise _fail(OpsError(problems_of(exc, defaults.KAFKA_ENV_PREFIX))) from None
    except ValueError as exc:
        raise _fail(OpsError(str(exc))) from None


# -- topics ---------------------------------------------------------------------------

@app.command()
def topics(
    bootstrap: str | None = _BOOTSTRAP,
    interval: float = typer.Option(2.0, "--interval", min=0.0,
                                   help="Seconds between the two samples of end offsets (0: no rates)."),
    as_json: bool = _JSON,
) -> None:
    """Every topic: partitions, end offsets, messages/s, each consumer group's lag; dead-letter depth."""
    from ops.formatting import format_overview
    from shared.kafka.sampling import sample_overview

    result = _run(sample_overview(_bootstrap(bootstrap), interval_s=interval))
    typer.echo(_json(result.to_dict()) if as_json else format_overview(result))


# -- tail -----------------------------------------------------------------------------

@app.command()
def tail(
    topic: str = typer.Argument(..., help="Topic name (lead.captured.v1) or event type (lead.captured)."),
    from_beginning: bool = typer.Option(False, "--from-beginning",
                                        help="Start at the oldest record instead of the end."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Stop after this many records."),
    lead: str | None = typer.Option(None, "--lead", help="Only this lead (lead id, or email: its id needs the "
                                                           "installation's key, from the database)."),
    follow: bool = typer.Option(True, "--follow/--no-follow",
                                help="Keep waiting for new records, or stop at the end found at start."),
    bootstrap: str | None = _BOOTSTRAP,
    database_url: str | None = _DATABASE,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line: coordinates and full envelope."),
) -> None:
    """Decoded events, one line each (undecodable records are shown as such; an erased person's
    records by their coordinates only, the database says which). Commits nothing."""
    from ops.records import RecordView, format_record_line, record_to_dict
    from ops.streams import tail as tail_topic
    from ops.timeline import resolve_lead
    from shared.events.payloads import CURRENT

    topic = CURRENT[topic].topic.name if topic in CURRENT else topic
    try:
        lead_id = str(resolve_lead(lead, database_url)) if lead else None
    except OpsError as exc:
        raise _fail(exc) from None

    def emit(view: RecordView) -> None:
        line = _json(record_to_dict(view), indent=None) if as_json else format_record_line(view)
        print(line, flush=True)

    address = _bootstrap(bootstrap)
    shown = _run(_hiding_erased(database_url, lambda hide: tail_topic(
        address, topic, emit=emit, from_beginning=from_beginning, follow=follow, limit=limit, lead_id=lead_id,
        hide=hide)))
    if not shown and not follow:
        hint = "" if from_beginning else " (add --from-beginning to read what is already there)"
        typer.echo(f"ops: no records on {topic}{' for lead ' + lead_id if lead_id else ''}{hint}", err=True)


# -- dead letters ---------------------------------------------------------------------

@letters_app.command("list")
def letters_list(
    limit: int = typer.Option(50, "--limit", min=1, help="Show the newest N letters."),
    bootstrap: str | None = _BOOTSTRAP,
    database_url: str | None = _DATABASE,
    as_json: bool = _JSON,
) -> None:
    """Each dead letter: its offset, the original topic/partition/offset, group, attempts, error."""
    from ops.formatting import table
    from ops.letters import LIST_HEADERS, letter_rows, letter_to_dict
    from ops.streams import read_letters

    address = _bootstrap(bootstrap)
    views = _run(_hiding_erased(database_url, lambda hide: read_letters(address, newest=limit, hide=hide)))
    if as_json:
        typer.echo(_json([letter_to_dict(v) for v in views]))
        return
    if not views:
        typer.echo("no dead letters")
        return
    typer.echo("\n".join(table(LIST_HEADERS, letter_rows(views), right=(0, 3))))
    typer.echo(f"\n{len(views)} dead letter{'s' if len(views) != 1 else ''} (newest {limit} at most); "
               "details: ops dead-letters show OFFSET")


@letters_app.command("show")
def letters_show(
    offset: int = typer.Argument(..., min=0, help="The letter's offset on handoff.deadletter.v1."),
    bootstrap: str | None = _BOOTSTRAP,
    database_url: str | None = _DATABASE,
    as_json: bool = _JSON,
) -> None:
    """The whole letter, with the original event decoded (or its raw bytes if it does not decode);
    of an erased person's letter only where it came from."""
    from ops.letters import format_letter, letter_to_dict
    from ops.streams import read_letter

    address = _bootstrap(bootstrap)
    view = _run(_hiding_erased(database_url, lambda hide: read_letter(address, offset, hide=hide)))
    typer.echo(_json(letter_to_dict(view, full=True)) if as_json else format_letter(view))


@letters_app.command("replay")
def letters_replay(
    offset: int = typer.Argument(..., min=0, help="The letter's offset on handoff.deadletter.v1."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    force: bool = typer.Option(False, "--force", help="Replay even an original that does not decode."),
    bootstrap: str | None = _BOOTSTRAP,
    database_url: str | None = _DATABASE,
) -> None:
    """Publish the original record again, to its topic, with header handoff-replay-of: deadletter:OFFSET.
    The replay is written to the audit log (the database).

    Safe once the cause is fixed: consumers that already processed the event skip it
    (they dedupe by event id), and the one that dead-lettered it never recorded it.
    """
    from ops.database import record_change, tool_entry
    from ops.formatting import clock, error_summary
    from ops.letters import ReplayRefused, plan_replay
    from ops.records import REPLAY_HEADER
    from ops.streams import publish_replay, read_letter

    address = _bootstrap(bootstrap)
    view = _run(_hiding_erased(database_url, lambda hide: read_letter(address, offset, hide=hide)))
    try:
        plan = plan_replay(view, force=force)
    except ReplayRefused as exc:
        raise _fail(OpsError(str(exc))) from None
    letter = view.letter
    assert letter is not None  # plan_replay refuses unreadable letters
    typer.echo(f"dead letter {offset}: {letter.consumer_group} gave up after {letter.attempts} attempt(s) "
               f"at {clock(letter.failed_at)}: {error_summary(letter.error, 100)}")
    if not yes:
        try:
            confirmed = typer.confirm(f"Replay {plan.describe()}?", default=False)
        except typer.Abort:  # no answer (stdin closed)
            confirmed = False
        if not confirmed:
            typer.echo("nothing replayed", err=True)
            raise typer.Exit(1)
    sent = _run(publish_replay(address, plan))
    header = dict(plan.headers)[REPLAY_HEADER].decode()
    try:
        _run(record_change(defaults.database_url(database_url), tool_entry(
            "dead-letters replay", {"offset": offset, "group": letter.consumer_group},
            after={"topic": sent.topic, "partition": sent.partition, "offset": sent.offset})))
    except typer.Exit:
        typer.echo("ops: warning: replayed, but the audit log could not be written (see above)", err=True)
    typer.echo(f"replayed to {sent.topic}[{sent.partition}]@{sent.offset} ({REPLAY_HEADER}: {header}); "
               "consumers that already processed it skip it")
    if plan.event is not None:
        typer.echo(f"follow it: ops timeline {plan.event.envelope.lead_id}")


# -- refused outbox rows --------------------------------------------------------------

@refused_app.command("list")
def refused_list(
    service: str | None = typer.Option(None, "--service", help="Only this service's rows."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most N rows per service, oldest first."),
    database_url: str | None = _DATABASE,
    as_json: bool = _JSON,
) -> None:
    """Each refused row: service, id, topic, event, lead, size, when written and refused, and why."""
    from ops.database import read_refused
    from ops.formatting import table
    from ops.refused import LIST_HEADERS, refused_rows, refused_to_dict
    from shared.db.migrations import SERVICES

    items = _run(read_refused(defaults.database_url(database_url), [service] if service else SERVICES, limit=limit))
    if as_json:
        typer.echo(_json([refused_to_dict(i) for i in items]))
        return
    if not items:
        typer.echo(f"no refused outbox rows{' in ' + service if service else ''}")
        return
    typer.echo("\n".join(table(LIST_HEADERS, refused_rows(items), right=(1, 2, 6))))
    typer.echo(f"\n{len(items)} refused row{'s' if len(items) != 1 else ''} (oldest {limit} per service at most); "
               "details: ops refused show SERVICE ID")


@refused_app.command("show")
def refused_show(
    service: str = _SERVICE,
    row_id: int = typer.Argument(..., metavar="ID", min=1, help="The refused row's id."),
    database_url: str | None = _DATABASE,
    as_json: bool = _JSON,
) -> None:
    """The whole row: headers, the whole reason, the event decoded."""
    from ops.database import read_one
    from ops.refused import format_refused, refused_to_dict

    [item] = _run(read_one(defaults.database_url(database_url), service, [row_id]))
    typer.echo(_json(refused_to_dict(item, full=True)) if as_json else format_refused(item))


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    try:
        confirmed = typer.confirm(question, default=False)
    except typer.Abort:  # no answer (stdin closed)
        confirmed = False
    if not confirmed:
        typer.echo("nothing changed", err=True)
        raise typer.Exit(1)


@refused_app.command("replay")
def refused_replay(
    service: str = _SERVICE,
    ids: list[int] = _IDS,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    database_url: str | None = _DATABASE,
) -> None:
    """Put the rows back at the end of the service's outbox, so its relay sends them again.

    Once the cause is fixed (the broker's or the topic's size limit raised, the topic created
    or allowed). The very same bytes go, so the event id is unchanged; a row the relay would
    refuse again before sending (larger than the producer sends) is not put back: discard it.
    """
    from ops.database import read_one, replay_refused
    from ops.refused import ReplayRefused, check_replay
    from shared.outbox.refused import REPLAY_HEADER

    url = defaults.database_url(database_url)
    items = _run(read_one(url, service, ids))
    try:
        for item in items:
            check_replay(item)
    except ReplayRefused as exc:
        raise _fail(OpsError(str(exc))) from None
    for item in items:
        typer.echo(item.summary())
    _confirm(f"Put {len(items)} row{'s' if len(items) != 1 else ''} back at the end of {service}'s outbox?", yes)
    placed = _run(replay_refused(url, service, [i.row.id for i in items]))
    for refused_id, outbox_id in placed.items():
        typer.echo(f"replayed {service} refused row {refused_id} as outbox row {outbox_id} "
                   f"({REPLAY_HEADER}: outbox_refused:{refused_id}); the relay sends it next")
    for gone in sorted({i.row.id for i in items} - set(placed)):
        typer.echo(f"{service} refused row {gone} was gone meanwhile (replayed or discarded by someone else)",
                   err=True)


@refused_app.command("discard")
def refused_discard(
    service: str = _SERVICE,
    ids: list[int] = _IDS,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    database_url: str | None = _DATABASE,
) -> None:
    """Delete the rows for good: their events are never sent. Asks first, unless --yes."""
    from ops.database import discard_refused, read_one

    url = defaults.database_url(database_url)
    items = _run(read_one(url, service, ids))
    for item in items:
        typer.echo(item.summary())
    _confirm(f"Delete {len(items)} row{'s' if len(items) != 1 else ''} for good? Their events will never be sent",
             yes)
    gone = _run(discard_refused(url, service, [i.row.id for i in items]))
    typer.echo(f"discarded {service} refused row{'s' if len(gone) != 1 else ''} {', '.join(map(str, gone)) or '-'}")


# -- audit ----------------------------------------------------------------------------

@app.command()
def audit(
    since: str | None = typer.Option(None, "--since", metavar="WHEN",
                                     help="From this time on: ISO 8601 (2026-12-01T09:00Z) or an age (30m, 6h, 7d)."),
    actor: str | None = typer.Option(None, "--actor", help="Only this token's name (cli:<user> for this tool)."),
    action: str | None = typer.Option(None, "--action", help="Only actions containing this, e.g. /owners."),
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="At most this many, newest first."),
    full: bool = typer.Option(False, "--full", help="Each change's request, before and after, too."),
    database_url: str | None = _DATABASE,
    as_json: bool = _JSON,
) -> None:
    """Who changed what, when and from where: publications, owners, teams, accounts, decisions,
    parked outcomes, tokens, replays (newest first, from the database)."""
    from ops.audit import format_entry, parse_since
    from ops.database import read_audit

    try:
        moment = parse_since(since) if since else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    entries = _run(read_audit(defaults.database_url(database_url), since=moment, actor=actor, action=action,
                              limit=limit))
    if as_json:
        typer.echo(_json([e.__dict__ for e in entries]))
        return
    if not entries:
        typer.echo("no changes recorded" + (" with these filters" if since or actor or action else ""))
    for entry in entries:
        typer.echo(format_entry(entry, full=full))


# -- timeline -------------------------------------------------------------------------

@app.command()
def timeline(
    lead: str = typer.Argument(..., metavar="LEAD_ID_OR_EMAIL", help="A lead id, or the person's email."),
    feedback_url: str | None = typer.Option(
        None, "--feedback-url", metavar="URL",
        help=f"The feedback service [default: ${defaults.FEEDBACK_URL_ENV}, else the local stack's].",
    ),
    token: str | None = typer.Option(None, "--token", metavar="TOKEN",
                                     help=f"A viewer's token [default: ${defaults.TOKEN_ENV}]."),
    database_url: str | None = _DATABASE,
    as_json: bool = _JSON,
) -> None:
    """Every event about a lead, in order, with the scoring rules that fired and why routing chose the owner.
    An email is turned into its lead id with the installation's key, read from the database."""
    from ops.timeline import fetch_timeline, format_timeline, resolve_lead

    try:
        lead_id = resolve_lead(lead, database_url)
        data = fetch_timeline(defaults.feedback_url(feedback_url), lead_id, token=defaults.token(token), asked=lead)
    except OpsError as exc:
        raise _fail(exc) from None
    typer.echo(_json(data) if as_json else format_timeline(data, asked=lead))


def main() -> None:
    app(prog_name="python -m ops")


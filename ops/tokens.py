"""`./handoff tokens ...`: the installation's tokens, straight in the database (the first
RevOps token has to come from somewhere; later ones can also come from POST /access/tokens)."""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import typer

from ops import defaults
from ops.errors import OpsError
from shared.access.roles import DESCRIPTIONS, parse_roles

app = typer.Typer(no_args_is_help=True, help="Named tokens with roles: create (shown once), list, revoke. Roles: "
                  + "; ".join(f"{r.value} ({text})" for r, text in DESCRIPTIONS.items()))

T = TypeVar("T")
_DATABASE = typer.Option(None, "--database-url", metavar="URL",
                         help=f"The installation's PostgreSQL [default: ${defaults.DATABASE_URL_ENV}, else the local "
                              "stack's].")


def _view(info: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in {**info.__dict__, "token_id": str(info.token_id), "roles": list(info.roles)}.items()}


@app.command()
def create(
    name: str = typer.Argument(..., help="Who holds it: a person or a system (recorded as who acted)."),
    roles: str = typer.Option(..., "--roles", help="Comma-separated: source, crm, viewer, revops, operator, privacy."),
    source: str | None = typer.Option(None, "--source", help="For the source role: the one source it posts for."),
    expires_in_days: int | None = typer.Option(None, "--expires-in-days", min=1, max=3650,
                                               help="Stops working after N days [default: until revoked]."),
    database_url: str | None = _DATABASE,
) -> None:
    """Create a token; its value is printed once, here, and stored only as a hash."""
    from ops.cli import _run
    from ops.database import cli_actor, tool_entry, transaction
    from shared.access.audit import AuditLog
    from shared.access.store import TokenStore

    try:
        wanted = parse_roles(roles)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--roles") from None
    now = datetime.now(UTC)
    expires = now + timedelta(days=expires_in_days) if expires_in_days else None

    async def go() -> tuple[str, str]:
        async with transaction(defaults.database_url(database_url)) as session:
            value, info = await TokenStore(session).create(name=name, roles=wanted, source=source, expires_at=expires,
                                                           created_by=cli_actor(), now=now)
            await AuditLog(session).record(tool_entry("tokens create", {"name": name}, after=_view(info)))
            return value, f"{info.name}: {', '.join(info.roles)}" + (f" (source {info.source})" if info.source else "")
    value, described = _run(_refusals(go()))
    typer.echo(f"created {described}; expires {expires.isoformat() if expires else 'never'}")
    typer.echo("the token (shown this once; keep it in a secret store):")
    typer.echo(value)


@app.command("list")
def list_tokens(
    include_revoked: bool = typer.Option(False, "--all", help="Revoked tokens too."),
    database_url: str | None = _DATABASE,
) -> None:
    """The tokens: name, roles, source, created, last used, expires (never their values)."""
    from ops.cli import _run
    from ops.database import transaction
    from ops.formatting import table
    from shared.access.store import TokenInfo, TokenStore

    async def go() -> list[TokenInfo]:
        async with transaction(defaults.database_url(database_url)) as session:
            return await TokenStore(session).list(include_revoked=include_revoked)
    items = _run(go())
    if not items:
        typer.echo("no tokens: create one with ./handoff tokens create NAME --roles revops")
        return
    rows = [[t.name, ",".join(t.roles), t.source, _when(t.created_at), t.created_by, _when(t.last_used_at),
             _when(t.expires_at), _when(t.revoked_at)] for t in items]
    headers = ["name", "roles", "source", "created", "by", "last used", "expires", "revoked"]
    typer.echo("\n".join(table(headers, rows)))


@app.command()
def revoke(name: str = typer.Argument(..., help="The token's name, as list shows it."),
           database_url: str | None = _DATABASE) -> None:
    """Revoke a token: it stops working within 30 s on every service."""
    from ops.cli import _run
    from ops.database import tool_entry, transaction
    from shared.access.audit import AuditLog
    from shared.access.store import TokenStore

    async def go() -> None:
        async with transaction(defaults.database_url(database_url)) as session:
            info = await TokenStore(session).revoke(name, datetime.now(UTC))
            await AuditLog(session).record(tool_entry("tokens revoke", {"name": name},
                                                  before={**_view(info), "revoked_at": None}, after=_view(info)))
    _run(_refusals(go()))
    typer.echo(f"revoked {name}")


async def _refusals(coro: Coroutine[Any, Any, T]) -> T:
    """The store's refusals (a name taken, unknown, a bad field) as the tool's one-line errors."""
    from shared.errors import Refused
    try:
        return await coro
    except Refused as exc:
        raise OpsError(exc.detail) from None


def _when(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else None

"""Runs each service's Alembic migrations; every service owns a schema and its history.

``python -m shared.db.migrations`` upgrades all services (the compose ``migrate`` job); each
variable may instead be given as a file (``DATABASE_URL_FILE``, a Kubernetes secret mount). With
``HANDOFF_BOOTSTRAP_REVOPS_TOKEN`` set (16+ token characters), it also makes sure a token
named ``bootstrap-revops`` with that value and the revops role exists: the first credential
of an installation, with which RevOps creates named tokens (``POST /access/tokens``) and then
revokes it (``DELETE /access/tokens/bootstrap-revops``; unset the variable first).
"""

from __future__ import annotations

import asyncio
import sys
from importlib.resources import files

from alembic import command
from alembic.config import Config

BOOTSTRAP_TOKEN_ENV = "HANDOFF_BOOTSTRAP_REVOPS_TOKEN"
SERVICES = ("intake", "scoring", "routing", "feedback")
COMPONENTS = ("access", *SERVICES)
"""What has a schema: the installation's credentials (``shared.access``), then each service."""


def alembic_config(service: str, database_url: str) -> Config:
    if service not in COMPONENTS:
        raise ValueError(f"unknown service {service!r}; expected one of {', '.join(COMPONENTS)}")
    config = Config()
    package = "shared.access" if service == "access" else f"services.{service}"
    config.set_main_option("script_location", str(files(package) / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url)
    config.attributes["schema"] = service
    return config


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, database_url), revision)


def upgrade_all(database_url: str) -> None:
    for component in COMPONENTS:
        upgrade(component, database_url)


def main() -> int:
    from shared.secrets import variable
    url = variable("DATABASE_URL")
    if not url:
        print("DATABASE_URL is not set (postgresql+asyncpg://user:password@host:port/db)", file=sys.stderr)
        return 2
    if (refused := check_bootstrap()) != 0:
        return refused  # before anything is migrated
    upgrade_all(url)
    print(f"migrated: {', '.join(COMPONENTS)}")
    bootstrap = variable(BOOTSTRAP_TOKEN_ENV).strip()
    if bootstrap:
        asyncio.run(_bootstrap(url, bootstrap))
        print(f"token bootstrap-revops: present ({BOOTSTRAP_TOKEN_ENV})")
    return 0


def check_bootstrap() -> int:
    """2 (and why, on stderr) when the bootstrap token is set but weak or malformed; else 0."""
    from shared.access.tokens import well_formed
    from shared.secrets import variable, weakness

    bootstrap = variable(BOOTSTRAP_TOKEN_ENV).strip()
    if not bootstrap:
        return 0
    if (reason := weakness(bootstrap)) is not None:
        print(f"{BOOTSTRAP_TOKEN_ENV}: {reason}", file=sys.stderr)
        return 2
    if not well_formed(bootstrap):
        print(f"{BOOTSTRAP_TOKEN_ENV}: 16 to 200 token characters (letters, digits, -._~+/=)", file=sys.stderr)
        return 2
    return 0


async def _bootstrap(url: str, value: str) -> None:
    from datetime import UTC, datetime

    from shared.access.roles import Role
    from shared.access.store import ensure_tokens
    from shared.db.engine import make_engine, make_sessionmaker, unit_of_work

    engine = make_engine(url, pool_size=1)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            await ensure_tokens(session, {"bootstrap-revops": (value, frozenset({Role.revops}))},
                                created_by="migrate job", now=datetime.now(UTC))
    finally:
        await engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())

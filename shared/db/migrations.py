"""Runs each service's Alembic migrations; every service owns a schema and its history.

``python -m shared.db.migrations`` upgrades all services (the compose ``migrate`` job). With
``HANDOFF_BOOTSTRAP_REVOPS_TOKEN`` set (16+ token characters), it also makes sure a token
named ``bootstrap-revops`` with that value and the revops role exists: the first credential
of an installation, with which RevOps creates named tokens (``POST /access/tokens``) and then
revokes it (``DELETE /access/tokens/bootstrap-revops``; unset the variable first).
"""

from __future__ import annotations

import asyncio
import os
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
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("DATABASE_URL is not set (postgresql+asyncpg://user:password@host:port/db)", file=sys.stderr)
        return 2
    upgrade_all(url)
    print(f"migrated: {', '.join(COMPONENTS)}")
    bootstrap = os.environ.get(BOOTSTRAP_TOKEN_ENV, "").strip()
    if bootstrap:
        from shared.access.tokens import well_formed
        if not well_formed(bootstrap):
            print(f"{BOOTSTRAP_TOKEN_ENV}: 16 to 200 token characters (letters, digits, -._~+/=)", file=sys.stderr)
            return 2
        asyncio.run(_bootstrap(url, bootstrap))
        print(f"token bootstrap-revops: present ({BOOTSTRAP_TOKEN_ENV})")
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

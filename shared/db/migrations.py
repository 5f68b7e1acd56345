"""Runs each service's Alembic migrations; every service owns a schema and its history.

``python -m shared.db.migrations`` upgrades all services (the compose ``migrate`` job).
"""

from __future__ import annotations

import os
import sys
from importlib.resources import files

from alembic import command
from alembic.config import Config

SERVICES = ("intake", "scoring", "routing", "feedback")


def alembic_config(service: str, database_url: str) -> Config:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    config = Config()
    config.set_main_option("script_location", str(files(f"services.{service}") / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url)
    config.attributes["schema"] = service
    return config


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, database_url), revision)


def upgrade_all(database_url: str) -> None:
    for service in SERVICES:
        upgrade(service, database_url)


def main() -> int:
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("DATABASE_URL is not set (postgresql+asyncpg://user:password@host:port/db)", file=sys.stderr)
        return 2
    upgrade_all(url)
    print(f"migrated: {', '.join(SERVICES)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

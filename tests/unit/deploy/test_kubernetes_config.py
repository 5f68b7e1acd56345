"""deploy/k8s's configuration, secrets and one-shot jobs: the env names each service's
settings class reads, the ConfigMap and the example Secret they come from, and the migrate
and topics Jobs (checked against deploy/Dockerfile's migrate target and the topics)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from shared.events.topics import ALL_TOPICS
from tests.unit.deploy.manifests import (
    APP_SERVICES,
    CONFIG_MAP,
    POD_KINDS,
    ROOT,
    SECRET,
    SECRET_EXAMPLE,
    containers,
    deployment_section,
    env_refs,
    main_container,
    migrate_image,
    pod_spec,
    settings_class,
)


def test_env_refers_only_to_keys_that_exist(applied: list[dict], config_data: dict[str, str],
                                             secret_example: dict) -> None:
    keys = {"configmap": set(config_data), "secret": set(secret_example["stringData"])}
    names = {"configmap": CONFIG_MAP, "secret": SECRET}
    used: dict[str, set[str]] = {"configmap": set(), "secret": set()}
    for workload in [d for d in applied if d["kind"] in POD_KINDS]:
        for container in containers(workload):
            assert "envFrom" not in container, "each container names the keys it needs"
            for entry in container.get("env", []):
                source = entry.get("valueFrom", {})
                for kind, field in (("configmap", "configMapKeyRef"), ("secret", "secretKeyRef")):
                    if field in source:
                        ref = source[field]
                        assert ref["name"] == names[kind], f"{entry['name']}: {ref['name']}"
                        assert ref["key"] in keys[kind], f"{entry['name']}: no key {ref['key']} in {names[kind]}"
                        used[kind].add(ref["key"])
    assert used == keys, f"unused keys: { {k: sorted(keys[k] - used[k]) for k in keys} }"


def test_configmap_holds_no_secret(config_data: dict[str, str]) -> None:
    for key, value in config_data.items():
        assert not re.search(r"SECRET|TOKEN|PASSWORD|API_KEYS|DATABASE_URL", key), key
        assert "://" not in value or "@" not in value, f"{key}: credentials in a URL"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_env_names_are_read_by_the_service_settings(workloads: dict[str, dict], name: str, compose: dict) -> None:
    """Each name the manifest sets is a field of the settings class, under its env prefix."""
    cls = settings_class(name)
    prefix = cls.model_config["env_prefix"]
    assert prefix == f"HANDOFF_{name.upper()}_"
    env_names = [e["name"] for e in main_container(workloads[name], name)["env"]]
    assert len(env_names) == len(set(env_names)), env_names
    for env_name in env_names:
        assert env_name.startswith(prefix), f"{env_name}: the service reads only {prefix}*"
        assert env_name[len(prefix):].lower() in cls.model_fields, f"{env_name}: no such setting in {cls.__name__}"
    for field in ("database_url", "kafka_bootstrap_servers", "config_dir"):
        assert f"{prefix}{field.upper()}" in env_names, f"{name}: {field} not set"
    compose_env = compose["services"][name]["environment"]
    assert set(compose_env) <= set(env_names), f"set by docker-compose.yml only: {set(compose_env) - set(env_names)}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_secret_settings_come_from_the_secret(workloads: dict[str, dict], name: str) -> None:
    cls = settings_class(name)
    prefix = cls.model_config["env_prefix"]
    secret_fields = {f for f, info in cls.model_fields.items() if "SecretStr" in repr(info.annotation)}
    secret_fields.add("database_url")  # the URL carries the password
    container = main_container(workloads[name], name)
    by_name = {e["name"]: e for e in container["env"]}
    refs = {env_name: kind for env_name, kind, _, _ in env_refs(container)}
    for field in secret_fields:
        env_name = f"{prefix}{field.upper()}"
        if env_name in by_name:
            assert refs.get(env_name) == "secret", f"{env_name}: not from {SECRET}"
    for env_name, entry in by_name.items():
        assert "valueFrom" in entry, f"{env_name}: a literal value; use {CONFIG_MAP}"


def resolved_env(container: dict, config: dict[str, str], secret: dict[str, str],
                 drop_optional: bool = False, pod_name: str = "pod-0") -> dict[str, str]:
    env = {}
    for env_name, kind, key, optional in env_refs(container):
        if optional and drop_optional:
            continue
        env[env_name] = (config if kind == "configmap" else secret)[key]
    for entry in container.get("env", []):  # the downward API: only the pod's name is used
        field = entry.get("valueFrom", {}).get("fieldRef")
        if field is not None:
            assert field["fieldPath"] == "metadata.name", f"{entry['name']}: {field}"
            env[entry["name"]] = pod_name
    return env


@pytest.mark.parametrize("drop_optional", [False, True], ids=["all-keys", "required-keys-only"])
@pytest.mark.parametrize("name", APP_SERVICES)
def test_settings_load_from_the_example_config(workloads: dict[str, dict], config_data: dict[str, str],
                                               secret_example: dict, monkeypatch: pytest.MonkeyPatch,
                                               name: str, drop_optional: bool) -> None:
    """The service takes these values, types and all, once the example's placeholders are replaced;
    with the placeholders themselves it refuses to start, naming each variable."""
    for key in [k for k in os.environ if k.startswith("HANDOFF_")]:
        monkeypatch.delenv(key)
    env = resolved_env(main_container(workloads[name], name), config_data, secret_example["stringData"],
                       drop_optional, pod_name=f"{name}-0")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    placeholders = sorted(key for key, value in env.items() if "change-me" in value)
    if placeholders:
        with pytest.raises(ValidationError) as refused:
            settings_class(name)()
        for key in placeholders:
            assert key in str(refused.value), f"{key} not named in: {refused.value}"
        assert "change-me" not in str(refused.value), "the refusal echoes the secret"
    real = "r4nd0m-" + "x9" * 12
    for key in placeholders:
        monkeypatch.setenv(key, env[key].replace("change-me", real))
    settings = settings_class(name)()
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.kafka_bootstrap_servers == config_data["KAFKA_BOOTSTRAP_SERVERS"]
    assert settings.config_dir == Path("/app/config")
    for field, value in settings:
        if isinstance(value, SecretStr) and f"{settings.model_config['env_prefix']}{field.upper()}" in env:
            assert value.get_secret_value() == real


def test_documented_secret_commands_name_every_required_key(applied: list[dict]) -> None:
    refs = [(key, optional) for workload in applied if workload["kind"] in POD_KINDS
            for container in containers(workload)
            for _, kind, key, optional in env_refs(container) if kind == "secret"]
    required = {key for key, optional in refs if not optional}
    known = {key for key, _ in refs}
    section = deployment_section()
    for where, text in ((SECRET_EXAMPLE.name, SECRET_EXAMPLE.read_text()), ("docs/architecture.md", section)):
        named = set(re.findall(r"--from-literal=(\w+)=", text))
        assert required <= named <= known, where  # every required key, and only keys something reads


def test_database_url_points_at_postgres_with_asyncpg(secret_example: dict) -> None:
    url = secret_example["stringData"]["DATABASE_URL"]
    assert re.fullmatch(r"postgresql\+asyncpg://[^:/@]+:[^@]+@[^/:]+(:\d+)?/\w+", url), url


# ---- the one-shot jobs ---------------------------------------------------------------------

def test_migrate_job(jobs: dict[str, dict]) -> None:
    job = jobs["migrate"]
    (container,) = containers(job)
    assert container["image"] == "handoff-migrate"  # deploy/Dockerfile's migrate target: all four services
    assert container["command"] == ["python", "-m", "shared.db.migrations"]
    assert container["command"] == migrate_image().argv(), "not what the migrate image's CMD runs"
    assert list(env_refs(container)) == [("DATABASE_URL", "secret", "DATABASE_URL", False),
                                         ("HANDOFF_BOOTSTRAP_REVOPS_TOKEN", "secret", "BOOTSTRAP_REVOPS_TOKEN", True)]
    assert 'variable("DATABASE_URL")' in (ROOT / "shared" / "db" / "migrations.py").read_text()
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")


def test_topics_job(jobs: dict[str, dict], config_data: dict[str, str], compose: dict) -> None:
    job = jobs["topics"]
    (container,) = containers(job)
    script = " ".join(container["command"] + container.get("args", []))
    assert "kafka-topics.sh" in script and "--create" in script and "--if-not-exists" in script
    for variable in ("$TOPICS", '"$KAFKA_BOOTSTRAP_SERVERS"', '"$TOPIC_REPLICATION_FACTOR"'):
        assert variable in script, variable
    assert {n for n, _, _, _ in env_refs(container)} == {"TOPICS", "KAFKA_BOOTSTRAP_SERVERS",
                                                        "TOPIC_REPLICATION_FACTOR"}
    declared = dict(item.split(":") for item in config_data["TOPICS"].split())
    assert {topic: int(n) for topic, n in declared.items()} == {t.name: t.partitions for t in ALL_TOPICS}
    assert int(config_data["TOPIC_REPLICATION_FACTOR"]) >= 1
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")

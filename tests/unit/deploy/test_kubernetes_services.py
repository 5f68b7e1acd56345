"""deploy/k8s's Deployments, Services and PodDisruptionBudgets: checked against the code and
the images (deploy/Dockerfile's user, port and command), with no cluster."""

from __future__ import annotations

import re

import pytest

from tests.unit.deploy.manifests import (
    APP_SERVICES,
    PORT,
    REPLICAS,
    containers,
    dockerfile,
    image_uid,
    main_container,
    matches,
    migrate_image,
    of_kind,
    pod_spec,
    service_image,
)


def test_one_deployment_per_service(deployments: dict[str, dict]) -> None:
    assert set(deployments) == set(APP_SERVICES)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_deployment_runs_the_image_as_built(deployments: dict[str, dict], name: str) -> None:
    deployment = deployments[name]
    container = main_container(deployment, name)
    text = dockerfile()
    image = service_image(name)
    assert container["image"] == f"handoff-{name}"
    assert "command" not in container and "args" not in container, "the image's CMD starts the service"
    argv = image.argv()  # what the CMD runs, for the image built with SERVICE=<name>
    assert f"services.{name}.app:create_app" in argv and "--factory" in argv, argv
    assert argv[argv.index("--port") + 1] == str(PORT), argv
    assert PORT in image.expose, image.expose
    assert container["ports"] == [{"name": "http", "containerPort": PORT, "protocol": "TCP"}]
    assert re.search(r"^COPY config /app/config$", text, re.MULTILINE)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_deployment_replicas_and_rollout(deployments: dict[str, dict], name: str) -> None:
    spec = deployments[name]["spec"]
    assert spec["replicas"] == REPLICAS[name]
    if spec["replicas"] == 1:
        # one outbox relay, even during a rollout
        assert spec["strategy"] == {"type": "Recreate"}, f"{name}: a rolling update runs two relays"
    else:
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize("name", APP_SERVICES)
def test_deployment_probes(deployments: dict[str, dict], name: str) -> None:
    container = main_container(deployments[name], name)
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    expected = {"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"}
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, f"{name}.{probe}: {get['path']}"
        assert port_names.get(get["port"], get["port"]) == PORT, f"{name}.{probe}: port {get['port']}"
    # /readyz asks the database and the broker, up to 3 s each (shared/service/runtime.py)
    assert container["readinessProbe"]["timeoutSeconds"] >= 6
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, "too little time to start"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_deployment_resources(deployments: dict[str, dict], name: str) -> None:
    resources = main_container(deployments[name], name)["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind]), f"{name}: {kind} {resources.get(kind)}"


def test_every_container_has_resources(applied: list[dict]) -> None:
    for workload in [d for d in applied if d["kind"] in ("Deployment", "Job")]:
        for container in containers(workload):
            assert {"requests", "limits"} <= set(container.get("resources", {})), container["name"]


def test_every_pod_runs_as_a_non_root_user_read_only(applied: list[dict]) -> None:
    for workload in [d for d in applied if d["kind"] in ("Deployment", "Job")]:
        pod = pod_spec(workload)
        assert pod.get("automountServiceAccountToken") is False, workload["metadata"]["name"]
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
            assert context.get("runAsNonRoot") is True, where
            # a named USER in the image cannot be checked by the kubelet: the uid must be numeric here
            assert isinstance(context.get("runAsUser"), int) and context["runAsUser"] > 0, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert context.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{where}: no writable /tmp on a read-only root"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_pods_run_as_the_dockerfile_user(deployments: dict[str, dict], jobs: dict[str, dict], name: str) -> None:
    uid = re.search(r"useradd\b[^\n]*--uid (\d+)", dockerfile())
    assert uid, "deploy/Dockerfile creates no user with a fixed uid"
    assert re.search(r"^USER \S+", dockerfile(), re.MULTILINE)
    image = service_image(name)
    assert image_uid(image) == int(uid.group(1)), f"the {name} image does not run as the user useradd made"
    assert pod_spec(deployments[name])["securityContext"]["runAsUser"] == int(uid.group(1))
    assert pod_spec(jobs["migrate"])["securityContext"]["runAsUser"] == image_uid(migrate_image()) == int(
        re.search(r"--uid (\d+)", dockerfile()).group(1))


@pytest.mark.parametrize("name", APP_SERVICES)
def test_deployment_is_scraped(deployments: dict[str, dict], name: str) -> None:
    annotations = deployments[name]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(PORT)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_services_select_their_deployments(applied: list[dict], deployments: dict[str, dict]) -> None:
    services = of_kind(applied, "Service")
    assert set(services) == set(deployments), "one Service per Deployment, of the same name"
    for name, service in services.items():
        selector = service["spec"]["selector"]
        selected = [d for d, dep in deployments.items()
                    if matches(selector, dep["spec"]["template"]["metadata"]["labels"])]
        assert selected == [name], f"Service {name} selects {selected}"
        ports = {p["name"]: p["containerPort"] for p in main_container(deployments[name], name)["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports or port["targetPort"] in ports.values(), port


@pytest.mark.parametrize("name", APP_SERVICES)
def test_deployment_selector_matches_its_pods(deployments: dict[str, dict], name: str) -> None:
    spec = deployments[name]["spec"]
    assert matches(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])
    assert spec["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == name  # prometheus.yml: service


def test_disruption_budgets_for_the_replicated_services(applied: list[dict], deployments: dict[str, dict]) -> None:
    budgets = of_kind(applied, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets.values() if matches(b["spec"]["selector"]["matchLabels"], labels)]
        replicas = deployment["spec"]["replicas"]
        if replicas == 1:
            assert not covering, f"{name}: a budget on a single replica blocks every node drain"
            continue
        assert len(covering) == 1, f"{name}: {len(covering)} PodDisruptionBudgets"
        spec = covering[0]["spec"]
        if "minAvailable" in spec:
            assert 1 <= spec["minAvailable"] < replicas, spec
        else:
            assert 1 <= spec["maxUnavailable"] < replicas, spec

"""deploy/k8s's workloads (intake's Deployment, the consumers' StatefulSets), Services,
PodDisruptionBudgets and intake's HorizontalPodAutoscaler: checked against the code and the
images (deploy/Dockerfile's user, port and command), with no cluster."""

from __future__ import annotations

import re

import pytest

from tests.unit.deploy.manifests import (
    APP_SERVICES,
    POD_KINDS,
    PORT,
    REPLICAS,
    WORKLOAD_KINDS,
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


def test_one_workload_per_service(workloads: dict[str, dict]) -> None:
    assert set(workloads) == set(APP_SERVICES)
    assert {name: w["kind"] for name, w in workloads.items()} == WORKLOAD_KINDS


@pytest.mark.parametrize("name", APP_SERVICES)
def test_workload_runs_the_image_as_built(workloads: dict[str, dict], name: str) -> None:
    container = main_container(workloads[name], name)
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


def floor_of(name: str, workload: dict, applied: list[dict]) -> int:
    """The fewest replicas the workload runs: its autoscaler's minimum, or its count."""
    hpas = [h for h in of_kind(applied, "HorizontalPodAutoscaler").values()
            if h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": workload["kind"], "name": name}]
    if hpas:
        (hpa,) = hpas
        assert "replicas" not in workload["spec"], f"{name}: a count in the manifest fights its autoscaler"
        return int(hpa["spec"]["minReplicas"])
    return int(workload["spec"]["replicas"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_workload_replicas_and_rollout(workloads: dict[str, dict], applied: list[dict], name: str) -> None:
    workload = workloads[name]
    spec = workload["spec"]
    assert floor_of(name, workload, applied) == REPLICAS[name]
    if workload["kind"] == "Deployment":
        # the HTTP door: a new pod is ready before an old one goes
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    else:
        # one pod at a time, back under its own name (its group member id) before the next
        assert spec["updateStrategy"] == {"type": "RollingUpdate"}, spec.get("updateStrategy")
        # the autoscaler's new pods start together; nothing needs OrderedReady's ordering
        assert spec["podManagementPolicy"] == "Parallel"
        assert "volumeClaimTemplates" not in spec, "no state lives in the pods"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_workload_probes(workloads: dict[str, dict], name: str) -> None:
    container = main_container(workloads[name], name)
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
def test_workload_resources(workloads: dict[str, dict], name: str) -> None:
    resources = main_container(workloads[name], name)["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind]), f"{name}: {kind} {resources.get(kind)}"


def test_every_container_has_resources(applied: list[dict]) -> None:
    for workload in [d for d in applied if d["kind"] in POD_KINDS]:
        for container in containers(workload):
            assert {"requests", "limits"} <= set(container.get("resources", {})), container["name"]


def test_every_pod_runs_as_a_non_root_user_read_only(applied: list[dict]) -> None:
    for workload in [d for d in applied if d["kind"] in POD_KINDS]:
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
def test_pods_run_as_the_dockerfile_user(workloads: dict[str, dict], jobs: dict[str, dict], name: str) -> None:
    uid = re.search(r"useradd\b[^\n]*--uid (\d+)", dockerfile())
    assert uid, "deploy/Dockerfile creates no user with a fixed uid"
    assert re.search(r"^USER \S+", dockerfile(), re.MULTILINE)
    image = service_image(name)
    assert image_uid(image) == int(uid.group(1)), f"the {name} image does not run as the user useradd made"
    assert pod_spec(workloads[name])["securityContext"]["runAsUser"] == int(uid.group(1))
    assert pod_spec(jobs["migrate"])["securityContext"]["runAsUser"] == image_uid(migrate_image()) == int(
        re.search(r"--uid (\d+)", dockerfile()).group(1))


@pytest.mark.parametrize("name", APP_SERVICES)
def test_workload_is_scraped(workloads: dict[str, dict], name: str) -> None:
    annotations = workloads[name]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(PORT)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_services_select_their_workloads(applied: list[dict], workloads: dict[str, dict]) -> None:
    services = of_kind(applied, "Service")
    assert set(services) == set(workloads), "one Service per workload, of the same name"
    for name, service in services.items():
        selector = service["spec"]["selector"]
        selected = [w for w, workload in workloads.items()
                    if matches(selector, workload["spec"]["template"]["metadata"]["labels"])]
        assert selected == [name], f"Service {name} selects {selected}"
        ports = {p["name"]: p["containerPort"] for p in main_container(workloads[name], name)["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports or port["targetPort"] in ports.values(), port
        if workloads[name]["kind"] == "StatefulSet":
            # its governing Service: must exist; not headless, as no pod is addressed on its own
            assert workloads[name]["spec"]["serviceName"] == name


@pytest.mark.parametrize("name", APP_SERVICES)
def test_workload_selector_matches_its_pods(workloads: dict[str, dict], name: str) -> None:
    spec = workloads[name]["spec"]
    assert matches(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])
    assert spec["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == name  # prometheus.yml: service


def test_disruption_budgets_for_the_replicated_services(applied: list[dict], workloads: dict[str, dict]) -> None:
    budgets = of_kind(applied, "PodDisruptionBudget")
    for name, workload in workloads.items():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets.values() if matches(b["spec"]["selector"]["matchLabels"], labels)]
        replicas = floor_of(name, workload, applied)
        if replicas == 1:
            assert not covering, f"{name}: a budget on a single replica blocks every node drain"
            continue
        assert len(covering) == 1, f"{name}: {len(covering)} PodDisruptionBudgets"
        spec = covering[0]["spec"]
        if "minAvailable" in spec:
            assert 1 <= spec["minAvailable"] < replicas, spec
        else:
            assert 1 <= spec["maxUnavailable"] < replicas, spec


def test_intake_scales_on_cpu(applied: list[dict], workloads: dict[str, dict]) -> None:
    """Intake is stateless HTTP: a CPU HorizontalPodAutoscaler (autoscaling/v2) on its Deployment."""
    hpa = of_kind(applied, "HorizontalPodAutoscaler")["intake"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "intake"}
    assert "replicas" not in workloads["intake"]["spec"], "the HPA owns the count"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    target = metric["resource"]["target"]
    limit = main_container(workloads["intake"], "intake")["resources"]["limits"]["cpu"]
    if target["type"] == "AverageValue":  # below the limit, or it is never reached
        assert _cpu(target["averageValue"]) < _cpu(limit), (target, limit)
    else:
        assert target["type"] == "Utilization" and 0 < target["averageUtilization"] <= 100, target
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def _cpu(quantity: str | int) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)

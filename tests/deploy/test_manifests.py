"""The overlays render with kustomize, the core kinds validate strictly against the pinned Kubernetes version,
and the API workload has the properties docs/deploy-kubernetes.md promises."""

from __future__ import annotations

import copy
import re
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.k8s import (
    KUBERNETES_VERSION,
    OVERLAYS,
    container,
    env_of,
    find,
    find_prefix,
    labels_match,
    pod_spec,
    render,
)

# Checked in test_custom_resources.py (operators' schemas or structure), not by kubernetes-validate.
CUSTOM_KINDS = {"Cluster", "Pooler", "ScheduledBackup", "ServiceMonitor", "PodMonitor", "PrometheusRule"}
NAMESPACES = {
    "local": "iabank-foundation-local",
    "staging": "iabank-foundation-staging",
    "production": "iabank-foundation",
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_every_piece(overlay: str) -> None:
    docs = render(overlay)
    kinds = {d["kind"] for d in docs}
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Job",
    } <= kinds
    assert {"Cluster", "Pooler", "ServiceMonitor", "PrometheusRule", "ConfigMap", "Namespace"} <= kinds
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACES[overlay], doc["metadata"]["name"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "iabank-foundation", doc["metadata"][
            "name"
        ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_kinds_validate_strictly(overlay: str) -> None:
    checked = 0
    for doc in render(overlay):
        if doc["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
        checked += 1
    assert checked >= 20


def test_strict_validation_catches_an_unknown_field_and_a_wrong_type() -> None:
    deployment = find(render("production"), "Deployment", "foundation-api")
    typo = copy.deepcopy(deployment)
    pod_spec(typo)["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/health/ready"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)
    wrong = copy.deepcopy(deployment)
    wrong["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = [0]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_rollout_probes_and_shutdown(overlay: str) -> None:
    deployment = find(render(overlay), "Deployment", "foundation-api")
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    api = container(deployment, "api")
    assert api["args"][:1] == ["serve"] and "--workers" in api["args"]
    assert api["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    [delay] = api["lifecycle"]["preStop"]["exec"]["command"][1:]
    grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
    # preStop, then uvicorn's graceful shutdown (timeout_graceful_shutdown=10 in `foundation serve`).
    assert int(delay) >= 5 and grace >= int(delay) + 10 + 5


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_security_context_and_writable_paths(overlay: str) -> None:
    docs = render(overlay)
    deployment = find(docs, "Deployment", "foundation-api")
    pod = pod_spec(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's user
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    api = container(deployment, "api")
    assert api["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    assert empty_dirs == {"var"}
    mounts = {m["name"]: m for m in api["volumeMounts"]}
    assert all(m.get("readOnly") for name, m in mounts.items() if name not in empty_dirs)
    # `serve --workers N` keeps the multiprocess files under FOUNDATION_VAR_DIR: it must be the emptyDir.
    settings = find_prefix(docs, "ConfigMap", "foundation-api-env")["data"]
    assert settings["FOUNDATION_VAR_DIR"] == mounts["var"]["mountPath"]
    assert "PROMETHEUS_MULTIPROC_DIR" not in settings and "PROMETHEUS_MULTIPROC_DIR" not in env_of(api)
    for workload in (d for d in docs if d["kind"] in {"Deployment", "Job"}):
        for spec in pod_spec(workload)["containers"]:
            assert spec["securityContext"]["readOnlyRootFilesystem"] is True, workload["metadata"]["name"]
            assert spec["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert spec["resources"]["requests"] and spec["resources"]["limits"]
        assert pod_spec(workload)["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_spreads_over_zones_and_nodes(overlay: str) -> None:
    deployment = find(render(overlay), "Deployment", "foundation-api")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    spread = {c["topologyKey"]: c for c in pod_spec(deployment)["topologySpreadConstraints"]}
    assert set(spread) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    for constraint in spread.values():
        assert labels_match(constraint["labelSelector"]["matchLabels"], pod_labels)
        assert constraint["matchLabelKeys"] == ["pod-template-hash"]
    expected = "DoNotSchedule" if overlay == "production" else "ScheduleAnyway"
    assert spread["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == expected


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_hpa_pdb_select_the_api(overlay: str) -> None:
    docs = render(overlay)
    deployment = find(docs, "Deployment", "foundation-api")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = find(docs, "Service", "foundation-api")
    assert labels_match(service["spec"]["selector"], pod_labels)
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= {
        p["name"] for p in container(deployment, "api")["ports"]
    }
    pdb = find(docs, "PodDisruptionBudget", "foundation-api")
    assert (
        labels_match(pdb["spec"]["selector"]["matchLabels"], pod_labels)
        and pdb["spec"]["maxUnavailable"] == 1
    )
    hpa = find(docs, "HorizontalPodAutoscaler", "foundation-api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "foundation-api",
    }
    [metric] = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert 50 <= metric["resource"]["target"]["averageUtilization"] <= 80
    minimum = {"local": 1, "staging": 2, "production": 3}[overlay]
    assert hpa["spec"]["minReplicas"] == minimum < hpa["spec"]["maxReplicas"]


def _secret_refs(env: dict[str, dict[str, Any]]) -> set[str]:
    return {name for name, item in env.items() if "secretKeyRef" in item.get("valueFrom", {})}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_inlined(overlay: str) -> None:
    docs = render(overlay)
    secrets = [d for d in docs if d["kind"] == "Secret"]
    if overlay == "local":
        assert {s["metadata"]["name"] for s in secrets} == {"foundation-db-app", "foundation-redis"}
        assert all("example" in value for s in secrets for value in s["stringData"].values())
    else:
        assert secrets == [], "only the local overlay may carry (example) Secrets"
    for workload in (d for d in docs if d["kind"] in {"Deployment", "Job"}):
        for spec in pod_spec(workload)["containers"]:
            env = env_of(spec)
            from_secrets = _secret_refs(env)
            for name, item in env.items():
                value = item.get("value", "")
                for credentials in re.findall(r"://([^@/]*)@", value):
                    # user:password in a URL: only $(VAR) references to secretKeyRef variables.
                    for ref in re.findall(r"\$\(([A-Z_]+)\)", credentials):
                        assert ref in from_secrets, f"{workload['metadata']['name']}: {name} uses {ref}"
                    password = credentials.partition(":")[2]
                    assert password == "" or re.fullmatch(r"\$\([A-Z_]+\)", password), (
                        f"{name} inlines a password"
                    )
    settings = find_prefix(docs, "ConfigMap", "foundation-api-env")["data"]
    assert not any(re.search(r"(?i)password|secret", key) for key in settings)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_database_urls_owner_for_migrations_app_role_for_the_pods(overlay: str) -> None:
    docs = render(overlay)
    deployment = find(docs, "Deployment", "foundation-api")
    job = find(docs, "Job", "foundation-migrate")
    cluster = find(docs, "Cluster", "foundation-pg")
    pooler = find(docs, "Pooler", "foundation-pg-pooler-rw")
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    settings = find_prefix(docs, "ConfigMap", "foundation-api-env")["data"]
    role = settings["FOUNDATION_DB_APP_ROLE"]

    api_env = env_of(container(deployment, "api"))
    api_url = api_env["FOUNDATION_DATABASE_URL"]["value"]
    assert api_url.startswith(f"postgresql+asyncpg://{role}:$(FOUNDATION_DB_APP_PASSWORD)@")
    assert f"@{pooler['metadata']['name']}:5432/{initdb['database']}" in api_url
    assert "FOUNDATION_MIGRATION_DATABASE_URL" not in api_env, "the pods never hold the owner's credentials"

    migrate = container(job, "migrate")
    assert [migrate["command"][0], *migrate["args"]] == ["foundation", "db", "upgrade"]
    assert migrate["image"] == container(deployment, "api")["image"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    env = env_of(migrate)
    owner_secret = f"{cluster['metadata']['name']}-app"  # generated by CloudNativePG for the initdb owner
    assert env["OWNER_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": owner_secret, "key": "password"}
    owner_url = env["FOUNDATION_MIGRATION_DATABASE_URL"]["value"]
    assert f"@{cluster['metadata']['name']}-rw:5432/{initdb['database']}" in owner_url, (
        "DDL goes straight to the primary"
    )
    assert env["FOUNDATION_DATABASE_URL"]["value"].startswith(
        f"postgresql+asyncpg://{role}:$(FOUNDATION_DB_APP_PASSWORD)@"
    )
    assert (
        env["FOUNDATION_DB_APP_PASSWORD"]["valueFrom"] == api_env["FOUNDATION_DB_APP_PASSWORD"]["valueFrom"]
    )
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"


@pytest.mark.parametrize("overlay", ("staging", "production"))
def test_image_is_the_overlays_not_the_placeholder(overlay: str) -> None:
    docs = render(overlay)
    for workload in (d for d in docs if d["kind"] in {"Deployment", "Job"}):
        for spec in pod_spec(workload)["containers"]:
            image = spec["image"]
            assert re.search(r"(:[\w.-]+|@sha256:[0-9a-f]{64})$", image), image
            assert not image.startswith("iabank-foundation"), image
    settings = find_prefix(docs, "ConfigMap", "foundation-api-env")["data"]
    assert settings["FOUNDATION_PROFILE"] == "production" and settings["FOUNDATION_AUTH"] == "jwt"

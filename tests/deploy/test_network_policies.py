"""NetworkPolicies: the API accepts only the ingress controller and Prometheus, and reaches only PgBouncer,
Redis, the collector and DNS; every peer it names is a workload the overlay really runs, on a port it listens
on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.k8s import OVERLAYS, container, find, labels_match, pod_spec, render


def _peers(rules: list[dict[str, Any]], key: str) -> list[tuple[dict[str, Any], set[Any]]]:
    return [(peer, {p["port"] for p in rule["ports"]}) for rule in rules for peer in rule[key]]


def _workload_ports(workload: dict[str, Any]) -> set[Any]:
    ports: set[Any] = set()
    for spec in pod_spec(workload)["containers"]:
        for port in spec.get("ports", []):
            ports |= {port["containerPort"], port["name"]}
    return ports


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_ingress_only_from_the_ingress_controller_and_prometheus(overlay: str) -> None:
    docs = render(overlay)
    policy = find(docs, "NetworkPolicy", "foundation-api")
    deployment = find(docs, "Deployment", "foundation-api")
    assert labels_match(
        policy["spec"]["podSelector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"]
    )
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    peers = _peers(policy["spec"]["ingress"], "from")
    sources = sorted(
        (p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], str(p.get("podSelector")))
        for p, _ in peers
    )
    assert sources == [
        ("ingress-nginx", "None"),
        ("monitoring", "{'matchLabels': {'app.kubernetes.io/name': 'prometheus'}}"),
    ]
    assert all(ports == {"http"} for _, ports in peers)
    assert "http" in {p["name"] for p in container(deployment, "api")["ports"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_egress_only_to_pgbouncer_redis_collector_and_dns(overlay: str) -> None:
    docs = render(overlay)
    policy = find(docs, "NetworkPolicy", "foundation-api")
    pooler = find(docs, "Pooler", "foundation-pg-pooler-rw")
    redis = find(docs, "Deployment", "foundation-redis")
    collector = find(docs, "Deployment", "foundation-collector")
    reached = set()
    for peer, ports in _peers(policy["spec"]["egress"], "to"):
        selector = peer["podSelector"]["matchLabels"]
        if "namespaceSelector" in peer:
            assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
            assert selector == {"k8s-app": "kube-dns"} and ports == {53}
            reached.add("dns")
        elif "cnpg.io/poolerName" in selector:
            # CloudNativePG labels the pooler's pods with the Pooler's name.
            assert selector == {"cnpg.io/poolerName": pooler["metadata"]["name"]} and ports == {5432}
            reached.add("pgbouncer")
        else:
            [workload] = [
                w
                for w in (redis, collector)
                if labels_match(selector, w["spec"]["template"]["metadata"]["labels"])
            ]
            assert ports and ports <= _workload_ports(workload), (selector, ports)
            reached.add(workload["metadata"]["name"])
    assert reached == {"dns", "pgbouncer", "foundation-redis", "foundation-collector"}
    dns_rule = next(r for r in policy["spec"]["egress"] if r["ports"][0]["port"] == 53)
    assert {p["protocol"] for p in dns_rule["ports"]} == {"UDP", "TCP"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_of_ours_has_a_policy(overlay: str) -> None:
    docs = render(overlay)
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    for workload in (d for d in docs if d["kind"] in {"Deployment", "Job"}):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert any(labels_match(p["spec"]["podSelector"]["matchLabels"], labels) for p in policies), workload[
            "metadata"
        ]["name"]
    redis_policy = find(docs, "NetworkPolicy", "foundation-redis")
    [rule] = redis_policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "foundation-api"}}}]
    assert "egress" not in redis_policy["spec"] and "Egress" in redis_policy["spec"]["policyTypes"]
    migrate = find(docs, "NetworkPolicy", "foundation-migrate")
    targets = [
        peer["podSelector"]["matchLabels"] for rule in migrate["spec"]["egress"] for peer in rule["to"]
    ]
    assert {"cnpg.io/cluster": "foundation-pg"} in targets

"""Custom resources. The Prometheus Operator's (ServiceMonitor, PodMonitor, PrometheusRule) are checked
against models generated from its CRDs (cloudcoil-models-prometheus-operator, in the deploy-tools venv) and by
promtool; no package ships CloudNativePG's schemas, so its Cluster, Pooler and ScheduledBackup are checked
structurally, against the rules of its admission webhook where they matter (the Pooler's parameter allowlist).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.k8s import OVERLAYS, ROOT, find, labels_match, render, tool

VALIDATOR = Path(__file__).with_name("validate_monitoring.py")
MONITORING = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
# cloudnative-pg internal/webhook/v1/pooler_webhook.go, AllowedPgbouncerGenericConfigurationParameters: the
# webhook refuses any other key in spec.pgbouncer.parameters.
_WEBHOOK_ALLOWLIST = """
    application_name_add_host auth_type autodb_idle_timeout cancel_wait_timeout client_idle_timeout
    client_login_timeout client_tls_sslmode default_pool_size disable_pqexec dns_max_ttl
    dns_nxdomain_ttl idle_transaction_timeout ignore_startup_parameters listen_backlog log_connections
    log_disconnections log_pooler_errors log_stats max_client_conn max_db_connections max_packet_size
    max_prepared_statements max_user_connections min_pool_size pkt_buf query_timeout query_wait_timeout
    reserve_pool_size reserve_pool_timeout sbuf_loopcnt server_check_delay server_check_query
    server_connect_timeout server_fast_close server_idle_timeout server_lifetime server_login_retry
    server_reset_query server_reset_query_always server_round_robin server_tls_ciphers
    server_tls_protocols server_tls_sslmode stats_period suspend_timeout tcp_defer_accept
    tcp_socket_buffer tcp_keepalive tcp_keepcnt tcp_keepidle tcp_keepintvl tcp_user_timeout
    track_extra_parameters verbose
    """
PGBOUNCER_ALLOWED = set(_WEBHOOK_ALLOWLIST.split())
# ClusterSpec fields these manifests may use (a typo would be pruned silently by the API server).
CLUSTER_FIELDS = {
    "instances", "imageName", "primaryUpdateStrategy", "enableSuperuserAccess", "bootstrap", "managed",
    "postgresql", "storage", "walStorage", "resources", "affinity", "topologySpreadConstraints", "backup",
}  # fmt: skip


def _broken_objects() -> list[dict[str, Any]]:
    docs = render("production")
    monitor = copy.deepcopy(find(docs, "ServiceMonitor", "foundation-api"))
    monitor["spec"]["endpoints"][0]["scrapeInterval"] = "30s"  # the field is `interval`
    rule = copy.deepcopy(find(docs, "PrometheusRule", "foundation-rules"))
    rule["spec"]["groups"][0]["rules"] = "not a list"
    return [monitor, rule]


@pytest.fixture(scope="module")
def schema_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One validator run (its models take seconds to load) over every overlay and the broken objects."""
    directory = tmp_path_factory.mktemp("monitoring")
    sets = {overlay: [d for d in render(overlay) if d["kind"] in MONITORING] for overlay in OVERLAYS}
    sets["broken"] = _broken_objects()
    paths = {}
    for name, docs in sets.items():
        paths[name] = directory / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    command = [tool("python"), str(VALIDATOR), *map(str, paths.values())]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    reports: dict[str, dict[str, Any]] = json.loads(result.stdout)
    return {name: reports[str(path)] for name, path in paths.items()}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_monitoring_objects_match_the_operator_schema(overlay: str, schema_reports: dict[str, Any]) -> None:
    assert schema_reports[overlay] == {"checked": 4, "problems": []}


def test_the_schema_check_catches_a_wrong_type_and_an_unknown_field(schema_reports: dict[str, Any]) -> None:
    problems = {p["kind"]: p["problems"] for p in schema_reports["broken"]["problems"]}
    assert problems["ServiceMonitor"] == [".spec.endpoints[0].scrapeInterval: unknown field"]
    assert problems["PrometheusRule"] and "rules" in problems["PrometheusRule"][0]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_monitors_scrape_the_jobs_the_rules_expect(overlay: str) -> None:
    docs = render(overlay)
    rule = find(docs, "PrometheusRule", "foundation-rules")
    [target_down] = [
        r for g in rule["spec"]["groups"] for r in g["rules"] if r.get("alert") == "FoundationTargetDown"
    ]
    job_pattern = re.search(r'job=~"([^"]+)"', target_down["expr"]).group(1)  # type: ignore[union-attr]
    for name in ("foundation-api", "foundation-collector"):
        monitor = find(docs, "ServiceMonitor", name)
        service = find(docs, "Service", name)
        assert labels_match(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
        # No jobLabel: the job label is the Service's name, which the alert matches.
        assert "jobLabel" not in monitor["spec"] and re.fullmatch(job_pattern, service["metadata"]["name"])
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {
            p["name"] for p in service["spec"]["ports"]
        }
    pod_monitor = find(docs, "PodMonitor", "foundation-pg")
    assert pod_monitor["spec"]["selector"]["matchLabels"] == {"cnpg.io/cluster": "foundation-pg"}


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (scripts/system-deps.sh)"
)
def test_prometheus_rule_spec_passes_promtool(tmp_path: Path) -> None:
    rule = find(render("production"), "PrometheusRule", "foundation-rules")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rule["spec"]), encoding="utf-8")
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboards_are_labelled_for_the_grafana_sidecar() -> None:
    [dashboards] = [
        d
        for d in render("production")
        if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"]["labels"]
    ]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboards["metadata"]["name"] == "foundation-grafana-dashboards"  # stable: no hash suffix
    assert sorted(dashboards["data"]) == [
        "grafana-dashboard-iabank-foundation.json",
        "grafana-dashboard-iabank-success-criteria.json",
    ]
    for key, text in dashboards["data"].items():
        assert json.loads(text)["panels"]
        generated = ROOT / "deploy/kubernetes/base/generated" / key
        assert text == generated.read_text(encoding="utf-8")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cloudnativepg_cluster(overlay: str) -> None:
    cluster = find(render(overlay), "Cluster", "foundation-pg")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    spec = cluster["spec"]
    assert set(spec) <= CLUSTER_FIELDS, set(spec) - CLUSTER_FIELDS
    assert spec["instances"] == (1 if overlay == "local" else 3)
    assert re.fullmatch(r"ghcr\.io/cloudnative-pg/postgresql:\d+\.\d+", spec["imageName"])
    assert spec["enableSuperuserAccess"] is False
    initdb = spec["bootstrap"]["initdb"]
    [owner] = [r for r in spec["managed"]["roles"] if r["name"] == initdb["owner"]]
    # db upgrade creates the application role as the owner: CREATEROLE, and nothing that bypasses RLS.
    assert owner["createrole"] is True and owner["login"] is True
    assert owner["superuser"] is False and owner["bypassrls"] is False
    assert re.fullmatch(r"\d+Gi", spec["storage"]["size"])
    assert spec["affinity"]["enablePodAntiAffinity"] is True
    assert spec["resources"]["requests"]["memory"] == spec["resources"]["limits"]["memory"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pooler_is_transaction_mode_and_fits_the_app(overlay: str) -> None:
    docs = render(overlay)
    cluster = find(docs, "Cluster", "foundation-pg")
    pooler = find(docs, "Pooler", "foundation-pg-pooler-rw")
    spec = pooler["spec"]
    assert spec["cluster"]["name"] == cluster["metadata"]["name"] != pooler["metadata"]["name"]
    assert spec["type"] == "rw"
    pgbouncer = spec["pgbouncer"]
    parameters = pgbouncer["parameters"]
    assert set(parameters) <= PGBOUNCER_ALLOWED, set(parameters) - PGBOUNCER_ALLOWED
    assert all(isinstance(v, str) for v in parameters.values())
    # Transaction pooling works with the app's per-transaction set_config(..., true); asyncpg's named prepared
    # statements need PgBouncer >= 1.21 tracking them (docs/deploy-kubernetes.md, "PgBouncer").
    assert pgbouncer["poolMode"] == "transaction" and int(parameters["max_prepared_statements"]) > 0
    [bouncer] = spec["template"]["spec"]["containers"]
    version = re.fullmatch(r"ghcr\.io/cloudnative-pg/pgbouncer:(\d+)\.(\d+)\.\d+", bouncer["image"])
    assert bouncer["name"] == "pgbouncer" and version and (int(version[1]), int(version[2])) >= (1, 21)
    # Client connections at the HPA maximum fit the poolers; server connections fit PostgreSQL.
    hpa = find(docs, "HorizontalPodAutoscaler", "foundation-api")
    settings = next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("foundation-api-env")
    )
    args = find(docs, "Deployment", "foundation-api")["spec"]["template"]["spec"]["containers"][0]["args"]
    workers = int(args[args.index("--workers") + 1])
    clients = hpa["spec"]["maxReplicas"] * workers * int(settings["data"]["FOUNDATION_DB_POOL_SIZE"])
    assert clients <= spec["instances"] * int(parameters["max_client_conn"])
    servers = spec["instances"] * int(parameters["default_pool_size"])
    assert servers + 20 <= int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])


def test_production_backs_up_continuously_and_daily() -> None:
    docs = render("production")
    cluster = find(docs, "Cluster", "foundation-pg")
    store = cluster["spec"]["backup"]["barmanObjectStore"]
    assert store["destinationPath"].startswith(("s3://", "gs://", "https://"))
    credentials = store["s3Credentials"]
    assert {credentials[k]["name"] for k in ("accessKeyId", "secretAccessKey")} == {"foundation-pg-backup-s3"}
    assert re.fullmatch(r"\d+[dwm]", cluster["spec"]["backup"]["retentionPolicy"])
    assert store["wal"]["compression"] and cluster["spec"]["walStorage"]["size"]
    backup = find(docs, "ScheduledBackup", "foundation-pg-daily")
    assert backup["apiVersion"] == "postgresql.cnpg.io/v1"
    assert backup["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert backup["spec"]["method"] == "barmanObjectStore"
    assert len(backup["spec"]["schedule"].split()) == 6, "CloudNativePG's cron has a seconds field"
    for overlay in ("local", "staging"):
        assert not [d for d in render(overlay) if d["kind"] == "ScheduledBackup"]

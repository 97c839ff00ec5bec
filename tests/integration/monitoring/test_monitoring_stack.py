"""The compose stack's monitoring, checked with real validators since no container engine runs
here: Prometheus' own `promtool` for its configuration and for every dashboard query, the
Compose Specification's JSON schema for the compose file, and what Grafana's provisioning
reads (datasource, dashboard provider, dashboard) held to the files compose mounts."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from prometheus_client import CollectorRegistry

from metaledger.api.observability.metrics import Metrics
from metaledger.api.observability.positions import SEARCH, one_follower

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_DIR = ROOT / "compose"
COMPOSE = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
PROMETHEUS_CONFIG = COMPOSE_DIR / "prometheus" / "prometheus.yml"
PROVISIONING = COMPOSE_DIR / "grafana" / "provisioning"
DASHBOARD = json.loads((COMPOSE_DIR / "grafana" / "dashboards" / "metaledger.json").read_text())
# The compose-spec schema that the dclint linter bundles (`make compose-schema` installs it).
COMPOSE_SCHEMA = (
    Path(__file__).parent / "node_modules" / "dclint" / "schemas" / "compose.schema.json"
)
SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}


def _promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *arguments], capture_output=True, text=True, check=False)


def _queries() -> list[str]:
    return [target["expr"] for panel in DASHBOARD["panels"] for target in panel["targets"]]


def _mounts(service: str) -> dict[str, str]:
    """The service's bind mounts: container path -> host path (relative to compose/)."""
    mounts = {}
    for volume in COMPOSE["services"][service]["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[target] = source
    return mounts


def _exposed_samples() -> set[str]:
    """Every sample name a metaledger process can expose."""
    registry = CollectorRegistry()
    Metrics(registry)
    registry.register(one_follower(lambda: 0, SEARCH, lambda: 0))
    names: set[str] = set()
    for family in registry.collect():
        suffixes = SAMPLE_SUFFIXES.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names


def test_the_prometheus_configuration_passes_promtool() -> None:
    checked = _promtool("check", "config", str(PROMETHEUS_CONFIG))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{index}", "expr": expr}
                    for index, expr in enumerate(_queries())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = _promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_metric_the_dashboard_queries_is_one_metaledger_exposes() -> None:
    queried = {name for expr in _queries() for name in re.findall(r"\bmetaledger_\w+", expr)}
    assert queried
    assert queried - _exposed_samples() == set()


def test_the_dashboard_shows_request_rate_p99_lags_and_login_failures() -> None:
    queries = " ".join(_queries())
    assert "rate(metaledger_http_requests_total" in queries
    assert "histogram_quantile(0.99" in queries
    assert "metaledger_follower_lag_events" in queries
    assert "metaledger_consumer_lag_messages" in queries
    assert "metaledger_logins_total" in queries


def test_the_scrape_targets_are_the_stacks_processes_on_their_metrics_port() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = [
        target
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    ]
    environment = COMPOSE["x-metaledger-env"]
    port = environment["METALEDGER_METRICS_PORT"]
    assert environment["METALEDGER_METRICS_HOST"] == "0.0.0.0"
    metaledger = [
        name
        for name, service in COMPOSE["services"].items()
        if service.get("image", "").startswith("metaledger:")
    ]
    assert sorted(targets) == sorted(f"{name}:{port}" for name in metaledger)


def test_prometheus_reads_the_configuration_checked_here() -> None:
    command = COMPOSE["services"]["prometheus"]["command"]
    (config_path,) = [arg.split("=", 1)[1] for arg in command if arg.startswith("--config.file=")]
    assert (COMPOSE_DIR / _mounts("prometheus")[config_path]).resolve() == PROMETHEUS_CONFIG


def _provisioned(kind: str) -> dict[str, Any]:
    (path,) = (PROVISIONING / kind).glob("*.yml")
    provisioned: dict[str, Any] = yaml.safe_load(path.read_text())
    assert provisioned["apiVersion"] == 1
    return provisioned


def test_the_dashboard_queries_the_provisioned_prometheus() -> None:
    (datasource,) = _provisioned("datasources")["datasources"]
    assert (datasource["type"], datasource["url"]) == ("prometheus", "http://prometheus:9090")
    named = {
        source["datasource"]["uid"]
        for panel in DASHBOARD["panels"]
        for source in [panel, *panel["targets"]]
    }
    assert named == {datasource["uid"]}


def test_grafana_finds_the_dashboard_where_compose_mounts_it() -> None:
    (provider,) = _provisioned("dashboards")["providers"]
    mounts = _mounts("grafana")
    assert (COMPOSE_DIR / mounts["/etc/grafana/provisioning"]).resolve() == PROVISIONING
    folder = provider["options"]["path"]
    assert (COMPOSE_DIR / mounts[folder] / "metaledger.json").is_file()
    home = COMPOSE["services"]["grafana"]["environment"][
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"
    ]
    assert home == f"{folder}/metaledger.json"


def test_the_dashboard_has_what_grafana_needs_to_load_it() -> None:
    assert {"uid", "title", "schemaVersion", "panels"} <= set(DASHBOARD)
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    for panel in DASHBOARD["panels"]:
        assert {"type", "title", "gridPos", "targets"} <= set(panel)
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        references = [target["refId"] for target in panel["targets"]]
        assert len(references) == len(set(references))


def test_the_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    # The schema says draft-07; the validator is picked to match, with its format checks.
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{list(error.path)}: {error.message}" for error in validator.iter_errors(COMPOSE)]
    assert errors == []


def test_grafana_refuses_to_start_without_an_admin_password_of_its_own() -> None:
    environment = COMPOSE["services"]["grafana"]["environment"]
    assert environment["GF_SECURITY_ADMIN_PASSWORD"] == (
        "${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}"
    )


def test_prometheus_and_grafana_are_published_on_the_loopback_interface_only() -> None:
    for service in ("prometheus", "grafana"):
        assert all(port.startswith("127.0.0.1:") for port in COMPOSE["services"][service]["ports"])

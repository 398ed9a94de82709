"""The metrics' outside face, read as data (no Docker engine, no Grafana here): Prometheus
and Grafana in docker-compose.yml, their files under deploy/, the dashboard's queries,
each of which must name only series that billsim's collectors export, and the table of
docs/observability.md."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from paths import REPO
from series import LABELS, exported_name, exported_names

from simulator.adapters.metrics.exporter import (
    ADDIN_METRICS,
    RUN_METRICS,
    MetricSpec,
)
from simulator.adapters.metrics.histogram import BATCH_BOUNDS, LATENCY_BOUNDS_US
from simulator.addin.batcher import MAX_BATCH_ITEMS
from simulator.scenario.bundled import bundled_scenarios

COMPOSE = REPO / "docker-compose.yml"
LOAD_OVERRIDE = REPO / "deploy" / "compose.load.yml"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "billsim.json"

# The PromQL the dashboard may use besides billsim's series and labels.
PROMQL_WORDS = frozenset(
    {"sum", "by", "rate", "histogram_quantile", "clamp_min", "label_values", "le"}
)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def option_value(command: list[str], option: str) -> str:
    assert command.count(option) == 1, (command, option)
    return command[command.index(option) + 1]


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """A service's bind mounts: container path -> host path (relative to the repository)."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *_mode = str(volume).split(":")
        out[target] = source
    return out


def host_path(source: str) -> Path:
    assert source.startswith("./"), source
    return REPO / source[2:]


# --- docker compose ---------------------------------------------------------------------------


def scrape_targets() -> dict[str, list[str]]:
    config = load_yaml(PROMETHEUS_CONFIG)
    return {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }


@pytest.mark.parametrize("service", ["billsim", "addin"])
def test_prometheus_scrapes_the_port_each_billsim_service_serves(
    compose: dict[str, Any], service: str
) -> None:
    command = compose["services"][service]["command"]
    port = option_value(command, "--metrics-port")
    # In a container the endpoint must listen beyond its own loopback for Prometheus.
    assert option_value(command, "--metrics-host") == "0.0.0.0"
    targets = [target for found in scrape_targets().values() for target in found]
    assert f"{service}:{port}" in targets


def test_prometheus_runs_with_the_config_of_the_repository(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:v")
    config_path = option_value(
        [part for arg in prometheus["command"] for part in arg.split("=", 1)], "--config.file"
    )
    assert host_path(mounts(prometheus)[config_path]) == PROMETHEUS_CONFIG
    assert prometheus["ports"] == ["127.0.0.1:${BILLSIM_PROMETHEUS_PORT:-9090}:9090"]
    # Every scrape target is a service of the compose file.
    for targets in scrape_targets().values():
        for target in targets:
            assert target.split(":")[0] in compose["services"], target


def test_grafana_loads_the_datasource_and_the_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    assert grafana["image"].startswith("grafana/grafana:")
    assert grafana["ports"] == ["127.0.0.1:${BILLSIM_GRAFANA_PORT:-3000}:3000"]
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_started"
    mounted = mounts(grafana)
    provisioning = host_path(mounted["/etc/grafana/provisioning"])
    assert provisioning == GRAFANA / "provisioning"
    (datasource,) = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = load_yaml(provisioning / "dashboards" / "billsim.yml")["providers"]
    dashboards_dir = provider["options"]["path"]
    assert host_path(mounted[dashboards_dir]) == DASHBOARD.parent
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_dir}/{DASHBOARD.name}"
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    # The run waits for Prometheus, so that the dashboard has it from its first frame.
    assert compose["services"]["billsim"]["depends_on"]["prometheus"] == {
        "condition": "service_started"
    }


def test_the_load_override_replays_the_demo_s_run_options_with_a_load() -> None:
    from typer.testing import CliRunner  # noqa: PLC0415

    from simulator.cli import app  # noqa: PLC0415

    demo = load_yaml(COMPOSE)["services"]["billsim"]["command"]
    load = load_yaml(LOAD_OVERRIDE)["services"]["billsim"]["command"]
    assert load[0] == "run"
    assert load[1] in bundled_scenarios()
    # Compose replaces the command whole: everything the loop relies on is there again.
    for option in ("--broker", "--summary", "--start-after", "--metrics-port", "--metrics-host"):
        assert option_value(load, option) == option_value(demo, option), option
    assert "--rate" in load
    help_text = CliRunner().invoke(app, ["run", "--help"], terminal_width=200).output
    for option in (word for word in load if word.startswith("--")):
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text), option


# --- the dashboard ----------------------------------------------------------------------------


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def queries(dashboard: dict[str, Any]) -> list[str]:
    exprs = [target["expr"] for panel in panels(dashboard) for target in panel["targets"]]
    exprs += [var["definition"] for var in dashboard["templating"]["list"]]
    return exprs


def identifiers(expr: str) -> set[str]:
    """The names a PromQL expression uses: series, labels, functions, keywords (quoted
    strings, Grafana's $variables, range durations and numbers left out)."""
    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r"\$\w+", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    return set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))


def test_every_query_names_only_series_and_labels_billsim_exports(
    dashboard: dict[str, Any],
) -> None:
    exported = exported_names()
    for expr in queries(dashboard):
        names = identifiers(expr)
        series = {name for name in names if name.startswith("billsim_")}
        assert series, f"names no billsim series: {expr}"
        assert series <= exported, f"{sorted(series - exported)} are not exported: {expr}"
        unknown = names - exported - PROMQL_WORDS - set(LABELS)
        assert not unknown, f"{sorted(unknown)} in {expr}"


def test_the_query_check_catches_a_name_billsim_does_not_export() -> None:
    names = identifiers('sum by (class) (rate(billsim_frames_sent_total{server=~"$server"}[1m]))')
    assert names == {"sum", "by", "class", "rate", "billsim_frames_sent_total", "server"}
    assert not names - PROMQL_WORDS - set(LABELS) <= exported_names()


def used_series(dashboard: dict[str, Any]) -> set[str]:
    return {name for expr in queries(dashboard) for name in identifiers(expr)}


@pytest.mark.parametrize(
    "series",
    [
        "billsim_records_total",  # records/s by class sent
        "billsim_addin_frames_stored_total",  # … and stored
        "billsim_frames_delivered_total",  # delivered vs stored
        "billsim_queue_depth_frames",
        "billsim_in_flight_frames",
        "billsim_frames_resent_total",
        "billsim_addin_duplicates_total",
        "billsim_addin_rejects_total",
        "billsim_addin_end_to_end_latency_seconds_bucket",
        "billsim_addin_frames_committed_total",  # the add-in's backlog
        "billsim_addin_unacknowledged_frames",
    ],
)
def test_the_dashboard_shows_both_sides_of_a_load_test(
    dashboard: dict[str, Any], series: str
) -> None:
    assert series in used_series(dashboard)


def test_records_per_second_are_shown_by_class_and_latency_as_p50_and_p99(
    dashboard: dict[str, Any],
) -> None:
    exprs = queries(dashboard)
    for counter in ("billsim_records_total", "billsim_addin_frames_stored_total"):
        assert any(re.search(rf"sum by \(class\) \(rate\({counter}\b", expr) for expr in exprs), (
            counter
        )
    latency = "billsim_addin_end_to_end_latency_seconds_bucket"
    for quantile in ("0.5", "0.99"):
        assert any(
            expr.startswith(f"histogram_quantile({quantile},") and latency in expr for expr in exprs
        ), quantile


def test_the_server_selector_applies_to_every_series_labelled_by_server(
    dashboard: dict[str, Any],
) -> None:
    """Both sides by server: the add-in's stored, committed, duplicates, rejects and
    latency follow the selector as the run's series do (a backlog is one server's
    delivered less what the add-in committed of it)."""
    by_server = {
        name
        for spec in (*RUN_METRICS, *ADDIN_METRICS)
        if "server" in spec.labels
        for name in exported_names([spec])
    }
    assert {"billsim_addin_frames_stored_total", "billsim_addin_rejects_total"} <= by_server
    exprs = [target["expr"] for panel in panels(dashboard) for target in panel["targets"]]
    for expr in exprs:
        for name, selector in re.findall(r"(billsim_\w+)(\{[^}]*\})?", expr):
            if name in by_server:
                assert selector == '{server=~"$server"}', f"{name} in {expr}"
            else:
                assert not selector, f"{name} has no server label: {expr}"


def test_every_exported_metric_is_on_the_dashboard(dashboard: dict[str, Any]) -> None:
    used = used_series(dashboard)
    for spec in (*RUN_METRICS, *ADDIN_METRICS):
        assert any(name.startswith(spec.name) for name in used), spec.name


def test_every_panel_reads_the_provisioned_datasource(dashboard: dict[str, Any]) -> None:
    (datasource,) = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")[
        "datasources"
    ]
    for panel in panels(dashboard):
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource["uid"], panel["title"]
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"]["uid"] == datasource["uid"]


def test_the_panels_fit_the_grid_without_overlapping(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
        assert panel["title"]


# --- docs/observability.md ------------------------------------------------------------------


def metric_row(spec: MetricSpec) -> str:
    labels = ", ".join(f"`{label}`" for label in spec.labels) or "—"
    return f"| `{exported_name(spec)}` | {spec.kind} | {labels} | {spec.help} |"


@pytest.mark.parametrize("spec", [*RUN_METRICS, *ADDIN_METRICS], ids=lambda spec: spec.name)
def test_the_observability_page_has_a_row_for_every_metric(spec: MetricSpec) -> None:
    text = (REPO / "docs" / "observability.md").read_text(encoding="utf-8")
    assert metric_row(spec) in text, f"docs/observability.md: write the row\n{metric_row(spec)}"


def test_the_batch_metric_says_the_batchers_own_limit() -> None:
    """The page's row is the metric's HELP text: that text must say what the batcher does."""
    [batch] = [spec for spec in ADDIN_METRICS if spec.name.endswith("commit_batch_frames")]
    assert f"at most {MAX_BATCH_ITEMS:,}" in batch.help


def test_the_observability_page_gives_the_buckets_the_histograms_have() -> None:
    text = (REPO / "docs" / "observability.md").read_text(encoding="utf-8")
    seconds = ", ".join(f"{bound / 1_000_000:g}" for bound in LATENCY_BOUNDS_US)
    assert f"in seconds: {seconds} and `+Inf`" in " ".join(text.split())
    frames = ", ".join(f"{bound:,}" for bound in BATCH_BOUNDS[:-1])
    assert f"{frames} and {BATCH_BOUNDS[-1]:,} frames" in " ".join(text.split())

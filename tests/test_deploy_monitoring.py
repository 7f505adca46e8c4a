"""Monitoring in deploy/: the alert rules (a plain rule file and the same groups as a
PrometheusRule), the Grafana dashboard, the ServiceMonitor and its Service, the pods'
scrape annotations and readiness on /healthz, and the headless Service for clients that
balance calls themselves.

There is no Prometheus, promtool or Grafana here, so every PromQL expression is checked
by a small reader below: brackets balance, functions exist, ranges are durations, and
every metric and label it names is one the server exports (``EXPORTED``). A query that
names a metric the server does not export shows nothing and an alert on it never fires,
silently; this is what catches that.
"""

from __future__ import annotations

import io
import json
import re
import urllib.request
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.deploy_files import (
    DEPLOY,
    HTTP_PORT,
    KUBERNETES,
    PORT,
    compose_service,
    load_all_yaml,
    manifests,
    pod_container,
)
from support.net import free_port
from support.server_process import server_process

from registry_client import RegistryClient, RegistryError

MONITORING = KUBERNETES / "monitoring"
RULE_FILE = DEPLOY / "prometheus" / "modelregistry-rules.yml"
DASHBOARD = DEPLOY / "grafana" / "modelregistry-dashboard.json"
HEADLESS = KUBERNETES / "round-robin" / "service-headless.yaml"

_GRPC = frozenset({"grpc_type", "grpc_service", "grpc_method"})
#: What the server's /metrics exports: name -> (type, labels).
EXPORTED: dict[str, tuple[str, frozenset[str]]] = {
    "grpc_server_started_total": ("counter", _GRPC),
    "grpc_server_handled_total": ("counter", _GRPC | {"grpc_code"}),
    "grpc_server_handling_seconds": ("histogram", _GRPC),
    "grpc_server_msg_received_total": ("counter", _GRPC),
    "grpc_server_msg_sent_total": ("counter", _GRPC),
    "registry_db_pool_size": ("gauge", frozenset({"pool"})),
    "registry_db_pool_in_use": ("gauge", frozenset({"pool"})),
    "registry_db_pool_wait_seconds": ("histogram", frozenset({"pool"})),
    "registry_db_statement_seconds": ("histogram", frozenset({"statement"})),
    "registry_artifact_bytes_total": ("counter", frozenset({"direction"})),
    "registry_watch_streams": ("gauge", frozenset()),
    "registry_webhook_deliveries_pending": ("gauge", frozenset()),
    "registry_webhook_deliveries_total": ("counter", frozenset({"outcome"})),
    "registry_auth_failures_total": ("counter", frozenset({"reason"})),
    "registry_build_info": ("gauge", frozenset({"version", "schema_revision"})),
}
#: Labels Prometheus puts on every series it scrapes.
TARGET_LABELS = frozenset({"job", "instance"})


def _series() -> dict[str, tuple[str, frozenset[str]]]:
    """Every series name a query can select: a histogram is _bucket (with le), _sum, _count."""
    series: dict[str, tuple[str, frozenset[str]]] = {}
    for name, (kind, labels) in EXPORTED.items():
        if kind == "histogram":
            series[f"{name}_bucket"] = (name, labels | {"le"} | TARGET_LABELS)
            series[f"{name}_sum"] = (name, labels | TARGET_LABELS)
            series[f"{name}_count"] = (name, labels | TARGET_LABELS)
        else:
            series[name] = (name, labels | TARGET_LABELS)
    return series


SERIES = _series()

# ------------------------------------------------------------------- reading PromQL

_FUNCTIONS = """
    abs absent absent_over_time avg_over_time ceil changes clamp clamp_max clamp_min
    count_over_time delta deriv exp floor histogram_quantile idelta increase irate
    label_join label_replace last_over_time ln max_over_time min_over_time
    predict_linear quantile_over_time rate resets round scalar sort sort_desc sqrt
    sum_over_time time timestamp vector
"""
FUNCTIONS = frozenset(_FUNCTIONS.split())
_AGGREGATIONS = "sum min max avg group stddev stdvar count count_values bottomk topk quantile"
AGGREGATIONS = frozenset(_AGGREGATIONS.split())
LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset"})
#: Grafana's built-in variables.
GRAFANA_BUILTINS = frozenset({"__rate_interval", "__interval", "__range", "__all"})

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*")
    |(?P<range>\[[^\]]*\])
    |(?P<var>\$\{?\w+\}?)
    |(?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    |(?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){},])
    |(?P<space>\s+)
    """,
    re.VERBOSE,
)
_RANGE = re.compile(r"^\[(\d+[smhdwy]|\$__rate_interval|\$__interval|\$__range)(:\d+[smhdwy])?\]$")
_MATCHER_OPS = frozenset({"=", "!=", "=~", "!~"})


@dataclass
class Query:
    """What one PromQL expression refers to, and what is wrong with its shape."""

    selectors: list[tuple[str, set[str]]] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)
    variables: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> set[str]:
        return {name for name, _ in self.selectors}


def read_promql(expr: str) -> Query:
    """Tokenize ``expr`` and collect its selectors (metric and matcher labels), the labels
    of its by/on clauses and the Grafana variables it uses; note anything malformed."""
    query = Query()
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if match is None:
            query.problems.append(f"cannot read {expr[position : position + 20]!r}")
            return query
        position = match.end()
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group()))
    depth: list[str] = []
    pairs = {")": "(", "}": "{"}
    for kind, text in tokens:
        if kind == "op" and text in "({":
            depth.append(text)
        elif kind == "op" and text in ")}":
            if not depth or depth.pop() != pairs[text]:
                query.problems.append(f"unbalanced {text!r}")
        elif kind == "range" and not _RANGE.match(text):
            query.problems.append(f"not a range: {text}")
        if kind in {"var", "range", "string"}:
            query.variables.update(re.findall(r"\$\{?(\w+)", text))
    if depth:
        query.problems.append(f"unclosed {depth}")
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind != "ident":
            i += 1
            continue
        if text in LABEL_LISTS:
            if following == "(":
                end = _closing(tokens, i + 1)
                query.grouping.update(t for k, t in tokens[i + 2 : end] if k == "ident")
                i = end + 1
            else:
                i += 1  # group_left without labels
            continue
        if following == "(":
            if text not in FUNCTIONS | AGGREGATIONS:
                query.problems.append(f"unknown function {text}")
            i += 1
            continue
        if text in KEYWORDS or (text in AGGREGATIONS and following in {"by", "without"}):
            i += 1
            continue
        labels: set[str] = set()
        i += 1
        if following == "{":
            end = _closing(tokens, i)
            labels, problems = _matchers(tokens[i + 1 : end])
            query.problems.extend(problems)
            i = end + 1
        query.selectors.append((text, labels))
    return query


def _closing(tokens: list[tuple[str, str]], start: int) -> int:
    """Index of the bracket closing the one at ``start``."""
    opening = tokens[start][1]
    closing = {"(": ")", "{": "}"}[opening]
    level = 0
    for index in range(start, len(tokens)):
        if tokens[index][1] == opening:
            level += 1
        elif tokens[index][1] == closing:
            level -= 1
            if level == 0:
                return index
    raise AssertionError(f"no {closing!r} after token {start}")


def _matchers(tokens: list[tuple[str, str]]) -> tuple[set[str], list[str]]:
    """Labels of `label op "value"` matchers separated by commas."""
    labels: set[str] = set()
    problems = []
    for index in range(0, len(tokens), 4):
        group = tokens[index : index + 4]
        shape = [k for k, _ in group[:3]]
        if shape != ["ident", "op", "string"] or group[1][1] not in _MATCHER_OPS:
            problems.append(f"bad matcher {' '.join(t for _, t in group)}")
            continue
        if len(group) == 4 and group[3][1] != ",":
            problems.append(f"matchers not separated by commas: {group[3][1]}")
        labels.add(group[0][1])
    return labels, problems


def check_query(expr: str, variables: frozenset[str] = frozenset()) -> Query:
    """Read ``expr`` and fail on its shape, on a metric the server does not export, on a
    label that metric does not have, and on an undefined Grafana variable."""
    query = read_promql(expr)
    assert not query.problems, (query.problems, expr)
    assert query.selectors, f"selects nothing: {expr}"
    labels_in_use: set[str] = set()
    for name, labels in query.selectors:
        assert name in SERIES, f"{name} is not exported by the server (in {expr})"
        known = SERIES[name][1]
        assert labels <= known, f"{name} has no label {labels - known} (in {expr})"
        labels_in_use |= known
    assert query.grouping <= labels_in_use, (query.grouping - labels_in_use, expr)
    undefined = query.variables - variables - GRAFANA_BUILTINS
    assert not undefined, f"undefined variables {undefined} in {expr}"
    return query


def test_the_promql_reader_catches_what_it_is_for() -> None:
    assert read_promql('sum by (pool) (rate(registry_x{pool="w"}[5m]))').metrics == {"registry_x"}
    assert read_promql("rate(a[5m]").problems
    assert read_promql("sum(rate(a[5 minutes]))").problems
    assert read_promql("summ(a)").problems
    assert read_promql('a{pool="x" b="y"}').problems
    with pytest.raises(AssertionError, match="not exported"):
        check_query("rate(grpc_server_handled[5m])")
    with pytest.raises(AssertionError, match="no label"):
        check_query('registry_db_pool_size{direction="upload"}')
    with pytest.raises(AssertionError, match="undefined variables"):
        check_query('registry_watch_streams{job=~"$cluster"}')
    wait = 'registry_db_pool_wait_seconds_bucket{pool="read"}[$__rate_interval]'
    assert check_query(f"histogram_quantile(0.99, sum by (le) (rate({wait})))").metrics


# --------------------------------------------------------------------------- files


@cache
def rule_groups() -> list[dict[str, Any]]:
    (document,) = load_all_yaml(RULE_FILE)
    assert set(document) == {"groups"}
    return list(document["groups"])


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"]]


@cache
def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def panels() -> list[dict[str, Any]]:
    """Every panel but rows (nested ones of collapsed rows included)."""
    found = []
    for panel in dashboard()["panels"]:
        found.extend(panel.get("panels", []))
        if panel["type"] != "row":
            found.append(panel)
    return found


def dashboard_variables() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard()["templating"]["list"]}


def dashboard_queries() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel["targets"]]


def _query_ids() -> list[str]:
    return [f"{p['title']} {t['refId']}" for p in panels() for t in p["targets"]]


@cache
def monitoring_objects() -> dict[str, dict[str, Any]]:
    objects = {}
    for path in sorted(MONITORING.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            for document in load_all_yaml(path):
                objects[document["kind"]] = document
    return objects


# --------------------------------------------------------------------------- the rules


def test_the_prometheusrule_holds_the_rule_file_groups() -> None:
    rule = monitoring_objects()["PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == manifests()["Deployment"]["metadata"]["namespace"]
    assert rule["spec"] == {"groups": rule_groups()}


def test_every_alert_waits_has_a_severity_and_says_what_is_wrong() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))
    for rule in alert_rules():
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["description"].strip(), rule["alert"]
        # A template must name a label the result keeps; without grouping only $value is left.
        query = read_promql(rule["expr"])
        for label in re.findall(r"\$labels\.(\w+)", json.dumps(rule["annotations"])):
            assert label in query.grouping, (rule["alert"], label)


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_expressions_name_only_what_the_server_exports(rule: dict[str, Any]) -> None:
    check_query(rule["expr"])


def test_the_obvious_failures_have_an_alert() -> None:
    watched = {name: read_promql(rule["expr"]).metrics for name, rule in _alerts_by_name()}
    everything = set().union(*watched.values())
    assert {
        "registry_build_info",  # no replica up
        "grpc_server_handled_total",  # error ratio
        "grpc_server_handling_seconds_bucket",  # p99 latency
        "registry_db_pool_in_use",  # pool exhaustion
        "registry_db_pool_size",
        "registry_db_pool_wait_seconds_bucket",
        "registry_webhook_deliveries_total",  # webhooks failing
        "registry_webhook_deliveries_pending",
    } <= everything
    down = dict(_alerts_by_name())["ModelRegistryDown"]
    assert down["expr"].startswith("absent(") and down["labels"]["severity"] == "critical"


def test_the_error_ratio_leaves_out_what_callers_cause() -> None:
    """NOT_FOUND on a lookup or FAILED_PRECONDITION on a lost compare-and-swap are answers,
    not failures: counting them would page someone for a client's mistake."""
    rule = dict(_alerts_by_name())["ModelRegistryErrorRatioHigh"]
    (excluded,) = re.findall(r'grpc_code!~"([A-Z_|]+)"', rule["expr"])
    assert set(excluded.split("|")) >= {
        "OK",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "FAILED_PRECONDITION",
        "INVALID_ARGUMENT",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "CANCELLED",
    }
    server_side = {"UNAVAILABLE", "INTERNAL", "UNKNOWN", "DEADLINE_EXCEEDED"}
    assert not set(excluded.split("|")) & server_side


def _alerts_by_name() -> list[tuple[str, dict[str, Any]]]:
    return [(rule["alert"], rule) for rule in alert_rules()]


# ----------------------------------------------------------------------- the dashboard


def test_the_dashboard_picks_its_data_source_and_filters_from_variables() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    variables = dashboard_variables()
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    source = {"type": "prometheus", "uid": "${datasource}"}
    for name, variable in variables.items():
        if variable["type"] == "query":
            assert variable["datasource"] == source, name
            definition = variable["query"]["query"]
            inner = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", definition)
            assert inner, definition
            query = check_query(inner.group(1), frozenset(variables))
            ((metric, _),) = query.selectors
            assert inner.group(2) in SERIES[metric][1], definition
    ids = [p["id"] for p in board["panels"]]
    ids += [p["id"] for p in panels() if p not in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["title"].strip() and panel.get("description", "").strip(), panel["id"]
        assert panel["datasource"] == source, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == source, panel["title"]


@pytest.mark.parametrize("expr", dashboard_queries(), ids=_query_ids())
def test_dashboard_queries_name_only_what_the_server_exports(expr: str) -> None:
    check_query(expr, frozenset(dashboard_variables()))


def test_the_dashboard_shows_every_metric_the_server_exports() -> None:
    shown = {SERIES[m][0] for expr in dashboard_queries() for m in read_promql(expr).metrics}
    assert shown == set(EXPORTED)
    titles = " ".join(p["title"].lower() for p in panels())
    for subject in ("p50", "p99", "code", "pool", "bytes", "watch", "webhook", "auth", "version"):
        assert subject in titles, subject


def test_dashboard_panels_fit_the_grid_without_overlapping() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, (panel["title"], cells.get((x, y)))
                cells[(x, y)] = panel["title"]


# ------------------------------------------------------------------ Kubernetes, Compose


def _http_listen_port() -> int:
    return int(manifests()["ConfigMap"]["data"]["REGISTRY_HTTP_LISTEN"].rpartition(":")[2])


def test_readiness_is_healthz_on_the_side_port_and_liveness_stays_on_grpc() -> None:
    """/healthz turns 503 as soon as the drain starts (readiness must), and it checks the
    database; liveness must not, or a database outage would restart every pod."""
    container = pod_container("Deployment")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["path"] == "/healthz"
    assert readiness["port"] == "http-metrics" and ports["http-metrics"] == HTTP_PORT
    assert readiness.get("scheme", "HTTP") == "HTTP"
    assert _http_listen_port() == HTTP_PORT
    assert manifests()["ConfigMap"]["data"]["REGISTRY_HTTP_LISTEN"].startswith("0.0.0.0:")
    assert container["livenessProbe"]["grpc"]["port"] == PORT
    assert "service" not in container["livenessProbe"]["grpc"]


def test_the_pods_carry_scrape_annotations_for_the_side_port() -> None:
    template = manifests()["Deployment"]["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(HTTP_PORT)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_the_servicemonitor_scrapes_the_side_port_of_the_server_pods() -> None:
    files = {p.name for p in MONITORING.glob("*.yaml")} - {"kustomization.yaml"}
    (kustomization,) = load_all_yaml(MONITORING / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(files)
    namespace = kustomization["namespace"]
    pod_labels = manifests()["Deployment"]["spec"]["template"]["metadata"]["labels"]
    service = monitoring_objects()["Service"]
    assert service["metadata"]["namespace"] == namespace
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "http-metrics" and port["port"] == HTTP_PORT
    monitor = monitoring_objects()["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    # Not the clients' Service, which has no metrics port.
    assert not selector.items() <= manifests()["Service"]["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [namespace]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == port["name"] and endpoint["path"] == "/metrics"


def test_the_headless_service_lists_the_server_pods_for_round_robin_clients() -> None:
    (service,) = load_all_yaml(HEADLESS)
    pod_labels = manifests()["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert not service["spec"].get("publishNotReadyAddresses", False)  # draining pods drop out
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "grpc" and port["port"] == PORT
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    target = f"dns:///{name}.{namespace}.svc.cluster.local:{PORT}"
    for document in (HEADLESS, DEPLOY / "README.md"):
        text = document.read_text()
        assert target in text and '"grpc.lb_policy_name", "round_robin"' in text, document


def test_compose_publishes_the_side_port_on_this_host() -> None:
    registry = compose_service("registry")
    assert registry["environment"]["REGISTRY_HTTP_LISTEN"] == f"0.0.0.0:{HTTP_PORT}"
    assert f"127.0.0.1:{HTTP_PORT}:{HTTP_PORT}" in registry["ports"]


def test_the_monitoring_files_are_described() -> None:
    readme = (DEPLOY / "README.md").read_text()
    for path in (RULE_FILE, DASHBOARD, MONITORING, HEADLESS):
        assert path.relative_to(DEPLOY).as_posix() in readme, path
    assert (
        Path(DEPLOY.parent / "docs" / "operations.md")
        .read_text()
        .count("### Monitoring on Kubernetes")
        == 1
    )


# ------------------------------------------------------- against a real server's scrape


@pytest.mark.slow
def test_a_real_scrape_has_every_series_the_dashboard_and_alerts_use(
    pg_database_url: str, tmp_path: Path, model_name: str
) -> None:
    """After a few calls (an upload, an alias lookup, a download), the server's /metrics
    has every series the queries select, with exactly the labels ``EXPORTED`` gives it,
    so the checks above hold for the server as built, not just for the table."""
    http = f"127.0.0.1:{free_port()}"
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w" * 50_000)
    with server_process(
        pg_database_url, str(tmp_path / "artifacts"), env={"REGISTRY_HTTP_LISTEN": http}
    ) as server:
        with RegistryClient(server.target, actor="test-monitoring") as client:
            client.create_registered_model(model_name)
            version = client.log_model_version(model_name, model)
            client.set_registered_model_alias(model_name, "champion", version.version)
            client.get_model_version_by_alias(model_name, "champion")
            client.download_artifact(model_name, version.version, "weights.bin", io.BytesIO())
            with pytest.raises(RegistryError):
                client.get_registered_model(f"{model_name}-missing")
        with urllib.request.urlopen(f"http://{http}/healthz", timeout=10) as healthz:
            assert healthz.status == 200
        with urllib.request.urlopen(f"http://{http}/metrics", timeout=10) as response:
            scrape = response.read().decode()
    samples: dict[str, set[frozenset[str]]] = {}
    for family in text_string_to_metric_families(scrape):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).add(frozenset(sample.labels))
    # prometheus_client adds a *_created timestamp per counter and histogram child.
    ours = {
        n
        for n in samples
        if n.startswith(("grpc_server_", "registry_")) and not n.endswith("_created")
    }
    for name in ours:
        assert name in SERIES, f"{name} is exported but not in EXPORTED"
        for labels in samples[name]:
            assert labels | TARGET_LABELS == SERIES[name][1], (name, labels)
    used = {
        m
        for e in [*dashboard_queries(), *(r["expr"] for r in alert_rules())]
        for m in read_promql(e).metrics
    }
    assert used <= ours, used - ours

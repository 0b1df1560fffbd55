"""/metrics of a real node: the grpc-prometheus layout, no `_created` series, product
status, price age on the node's clock, the keeper's and the writer's counters, build_info;
and the Grafana dashboard in the repository asks only for metrics the node exports."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.grpc.stubs import admin_pb2, audit_pb2, token_pb2
from tests.grpc.conftest import USDC, Harness, start
from tests.grpc.helpers import rejected

DASHBOARD = Path(__file__).resolve().parents[2] / "grafana" / "iit-node.json"


@pytest.fixture
def metered(tmp_path):
    harness = start(tmp_path, metrics_listen="127.0.0.1:0")
    try:
        harness.ready()
        yield harness
    finally:
        harness.close()


def exposition(node: Harness) -> str:
    url = f"http://127.0.0.1:{node.running.metrics_port}/metrics"
    return str(urllib.request.urlopen(url, timeout=10).read().decode())


def exported_names(node: Harness) -> set[str]:
    """Every series name the node declares, sampled yet or not (a labelled counter has no
    sample before its first increment)."""
    names = set()
    for family in text_string_to_metric_families(exposition(node)):
        suffix = {"counter": "_total", "info": "_info"}.get(family.type, "")
        names |= {family.name + suffix, *(s.name for s in family.samples)}
    return names


def scrape(node: Harness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = exposition(node)
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_rpcs_in_the_grpc_prometheus_layout(metered: Harness) -> None:
    metered.mint("alice", 100 * USDC, "m1")
    rejected(lambda: metered.mint("alice", 0, "m0"), grpc.StatusCode.INVALID_ARGUMENT)
    list(metered.admin.audit.StreamEvents(audit_pb2.StreamEventsRequest(), metadata=metered.admin.md))
    samples = scrape(metered)
    mint = {"grpc_type": "unary", "grpc_service": "iit.v1.TokenService", "grpc_method": "Mint"}
    assert value(samples, "grpc_server_started_total", **mint) == 2
    assert value(samples, "grpc_server_handled_total", **mint, grpc_code="OK") == 1
    assert value(samples, "grpc_server_handled_total", **mint, grpc_code="InvalidArgument") == 1
    assert value(samples, "grpc_server_handling_seconds_count", **mint) == 2
    assert value(samples, "grpc_server_handling_seconds_bucket", **mint, le="+Inf") == 2
    stream = {
        "grpc_type": "server_stream",
        "grpc_service": "iit.v1.AuditService",
        "grpc_method": "StreamEvents",
    }
    assert value(samples, "grpc_server_handled_total", **stream, grpc_code="OK") == 1
    assert (
        value(
            samples,
            "iit_rejections_total",
            grpc_service="iit.v1.TokenService",
            grpc_method="Mint",
            reason="InvalidArgument",
        )
        == 1
    )
    assert not [name for name, _ in samples if name.endswith("_created")]
    assert not [name for name, _ in samples if name.startswith("iit_rpc")]  # the old names are gone


def test_products_keeper_writer_and_build_info(metered: Harness) -> None:
    metered.mint("alice", 100 * USDC, "m1")
    metered.admin.admin.Pause(
        admin_pb2.PauseRequest(product_id="P", request_id="p"), metadata=metered.admin.md
    )
    samples = scrape(metered)
    assert value(samples, "iit_product_status", product_id="P", status="paused") == 1
    assert value(samples, "iit_product_status", product_id="P", status="active") == 0
    assert value(samples, "iit_price_age_seconds", product_id="P") == 0
    assert value(samples, "iit_writer_commands_total") >= 4  # launch, two prices, mint, pause
    assert 1 <= value(samples, "iit_writer_batches_total") <= value(samples, "iit_writer_commands_total")
    build = next(labels for name, labels in samples if name == "iit_build_info")
    assert dict(build)["version"].startswith("0.")
    assert value(samples, "iit_build_info", **dict(build)) == 1

    metered.advance(600)  # the keeper runs; the price is now 600 s old on the node's clock
    samples = scrape(metered)
    assert value(samples, "iit_price_age_seconds", product_id="P") == 600
    assert value(samples, "iit_keeper_runs_total") == 1
    metered.admin.admin.Resume(
        admin_pb2.ResumeRequest(product_id="P", request_id="r"), metadata=metered.admin.md
    )
    clock = metered.running.service.clock
    metered.now += 86_400  # a day later, the price moved 5 %: the daily reset rebalances
    clock.advance_to(metered.now)  # type: ignore[attr-defined]
    metered.report({"BTC": 63_000 * 10**18, "ETH": 3_150 * 10**18}, rid="day2")
    metered.advance(0)
    samples = scrape(metered)
    assert value(samples, "iit_keeper_runs_total") == 2
    rebalances = {
        dict(labels)["reason"]: v
        for (name, labels), v in samples.items()
        if name == "iit_keeper_rebalances_total"
    }
    assert sum(rebalances.values()) >= 1, rebalances


def test_the_grafana_dashboard_uses_only_exported_metrics(metered: Harness) -> None:
    metered.mint("alice", 100 * USDC, "m1")
    metered.advance(60)
    metered.alice.token.GetProduct(token_pb2.GetProductRequest(product_id="P"), metadata=metered.alice.md)
    exported = exported_names(metered)
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "iit-node"
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(expressions) >= 8
    used = {m for expr in expressions for m in re.findall(r"\b((?:grpc_server|iit)_[a-z_]+)", expr)}
    assert used <= exported, used - exported
    for needed in ("grpc_server_handled_total", "iit_product_status", "iit_price_age_seconds",
                   "iit_keeper_runs_total", "iit_writer_batches_total", "iit_build_info"):  # fmt: skip
        assert needed in used

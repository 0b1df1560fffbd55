"""The dashboard in a real headless Chromium, over a served node, both as processes of their
own on loopback: what a person keeping the page open would see."""

from __future__ import annotations

import json
import time

from google.protobuf.timestamp_pb2 import Timestamp

from adapters.dashboard.present import exact
from adapters.grpc.stubs import admin_pb2, audit_pb2, common_pb2, oracle_pb2, token_pb2
from tests.dashboard.conftest import T0, Stack, screenshot
from tests.store.tamper import Tamperer

WAD = 10**18
USDC = 10**6
SUPPLY_IS = (
    "want => document.querySelector('.card[data-product=\"P\"] [data-field=supply]').textContent === want"
)
NAV_EVENTS = {"PriceAccepted", "Minted", "Redeemed", "Rebalanced", "Settled", "Accrued"}


def launch(stack: Stack, product_id: str = "P") -> None:
    admin = stack.clients["admin"]
    admin.admin.LaunchProduct(
        admin_pb2.LaunchProductRequest(
            product_id=product_id,
            components=[
                common_pb2.Component(symbol="BTC", quantity=str(WAD // 100)),
                common_pb2.Component(symbol="ETH", quantity=str(WAD // 10)),
            ],
            request_id=f"launch-{product_id}",
        ),
        metadata=admin.md,
    )


def report(stack: Stack, prices: dict[str, int], reporter: str = "r1", at: int = T0) -> None:
    client = stack.clients[reporter]
    for symbol, price in prices.items():
        client.oracle.ReportPrice(
            oracle_pb2.ReportPriceRequest(
                symbol=symbol,
                price=str(price),
                observed_at=Timestamp(seconds=at),
                reporter_id=reporter,
                request_id=f"px-{reporter}-{symbol}-{price}",
            ),
            metadata=client.md,
        )


def mint(stack: Stack, amount: int, rid: str) -> token_pb2.MintResponse:
    alice = stack.clients["alice"]
    return alice.token.Mint(
        token_pb2.MintRequest(
            product_id="P", holder_id="alice", collateral_amount=str(amount), request_id=rid
        ),
        metadata=alice.md,
    )


def product(stack: Stack) -> common_pb2.Product:
    viewer = stack.clients["viewer"]
    return viewer.token.GetProduct(token_pb2.GetProductRequest(product_id="P"), metadata=viewer.md)


def stored_events(stack: Stack) -> list[audit_pb2.Event]:
    viewer = stack.clients["viewer"]
    return list(viewer.audit.StreamEvents(audit_pb2.StreamEventsRequest(), metadata=viewer.md))


def tail_positions(page) -> list[int]:
    return [int(p) for p in page.locator("#tail li").evaluate_all("els => els.map(e => e.dataset.position)")]


def card_text(page, field: str) -> str:
    return page.locator(f'.card[data-product="P"] [data-field="{field}"]').inner_text()


def test_the_page_shows_the_product_live_the_tail_the_charts_and_the_audit(stack, page):
    launch(stack)
    report(stack, {"BTC": 60_000 * WAD, "ETH": 3_000 * WAD})
    mint(stack, 1_000 * USDC, "m1")
    page.goto(stack.url)
    card = page.locator('.card[data-product="P"]')
    card.wait_for(timeout=15_000)
    page.wait_for_selector("#node-status[data-state=connected]", timeout=15_000)
    assert card.get_attribute("data-status") == "ACTIVE"

    # Figures are the node's decimal strings, rendered exactly (every digit, no float).
    page.wait_for_function(
        SUPPLY_IS,
        arg=f"{exact(int(product(stack).supply), 18)} tokens",
        timeout=10_000,
    )
    now = product(stack)
    assert card_text(page, "nav_per_token") == exact(int(now.nav_per_token), 18)
    assert card_text(page, "cash") == exact(int(now.cash), 6)
    assert card_text(page, "leverage") == exact(int(now.leverage), 18) + "×"
    assert card_text(page, "debt_units") == exact(int(now.debt_units), 18) + " index units"
    assert len(now.debt_units.rstrip("0")) > 17  # more digits than a float holds

    # The page's own renderer agrees with exact integer formatting at the edges.
    cases = [
        ("0", 18),
        ("1", 18),
        ("-1", 18),
        ("1000000000000000000", 18),
        ("-1000000000000000000", 18),
        ("999000999000999000999", 18),
        ("340282366920938463463374607431768211455", 18),  # 2^128 - 1
        ("1234500000", 6),
        ("100", 0),
        ("1234567", 0),
    ]
    rendered = page.evaluate("cases => cases.map(([raw, d]) => iitDashboard.exact(raw, d))", cases)
    assert rendered == [exact(int(raw), decimals) for raw, decimals in cases]

    # A Mint made over gRPC reaches the tail and the card's supply within 2 s.
    minted = mint(stack, 2_500 * USDC + 1, "m2")
    supply = f"{exact(int(product(stack).supply), 18)} tokens"
    started = time.monotonic()
    page.wait_for_function(
        SUPPLY_IS,
        arg=supply,
        timeout=2_000,
    )
    minted_row = page.locator('#tail li[data-type="Minted"]').first
    minted_row.wait_for(timeout=2_000)
    assert time.monotonic() - started < 2.0
    assert minted_row.get_attribute("data-holder") == "alice"
    text = minted_row.inner_text()
    assert f"minted {exact(int(minted.tokens_minted), 18)} tokens for 2,500.000001 collateral" in text
    assert f"fee {exact(int(minted.fee), 6)} collateral" in text

    # The NAV chart has a point per recorded step (every NAV-moving event), and grows live.
    def chart_points() -> int:
        return int(card.locator(".nav-chart").get_attribute("data-points") or 0)

    moving = [e for e in stored_events(stack) if e.product_id == "P" and e.type in NAV_EVENTS]
    page.wait_for_function(
        f"document.querySelector('.card[data-product=\"P\"] .nav-chart').dataset.points === '{len(moving)}'",
        timeout=5_000,
    )
    plotted = page.evaluate("iitDashboard.cards().get('P').chart.data[0].length")
    assert chart_points() == plotted == len(moving)
    report(stack, {"BTC": 61_000 * WAD}, at=T0)
    moving = [e for e in stored_events(stack) if e.product_id == "P" and e.type in NAV_EVENTS]
    page.wait_for_function(
        f"document.querySelector('.card[data-product=\"P\"] .nav-chart').dataset.points === '{len(moving)}'",
        timeout=5_000,
    )

    # The audit button shows CheckInvariants' verdict.
    page.click("#check")
    page.wait_for_selector("#audit[data-ok]", timeout=60_000)
    assert page.get_attribute("#audit", "data-ok") == "true"
    assert "Clean" in page.inner_text("#audit")

    # A halt turns the card HALTED, unmistakably.
    report(stack, {"BTC": 30_000 * WAD}, at=T0)  # a 50 % move: the circuit breaker trips
    page.wait_for_selector('.card[data-product="P"][data-status="HALTED"]', timeout=5_000)
    assert card.locator(".status").inner_text() == "HALTED"
    assert "pending index price" in card.locator(".halt-note").inner_text()
    page.wait_for_selector('#tail li[data-type="CircuitBreakerTripped"]', timeout=5_000)
    shot = screenshot(page, "dashboard")
    assert shot.stat().st_size > 10_000

    # Every event in the tail once, in store order (newest on top).
    events = stored_events(stack)
    page.wait_for_function(
        f"document.querySelector('#tail li').dataset.position === '{events[-1].position}'", timeout=5_000
    )
    assert tail_positions(page) == sorted((e.position for e in events), reverse=True)


def test_the_page_shows_a_lost_node_then_resumes_the_tail_without_repeating_an_event(stack, page):
    launch(stack)
    report(stack, {"BTC": 60_000 * WAD, "ETH": 3_000 * WAD})
    mint(stack, 1_000 * USDC, "m1")
    page.goto(stack.url)
    page.wait_for_selector('#tail li[data-type="Minted"]', timeout=15_000)
    before = tail_positions(page)

    stack.kill_node()
    page.wait_for_selector("#node-status[data-state=disconnected]", timeout=10_000)
    assert "unreachable" in page.inner_text("#node-status")
    screenshot(page, "dashboard-node-lost")

    stack.start_node()
    page.wait_for_selector("#node-status[data-state=connected]", timeout=20_000)
    mint(stack, 500 * USDC, "m2")
    page.wait_for_function(
        "document.querySelectorAll('#tail li[data-type=\"Minted\"]').length === 2", timeout=10_000
    )
    after = tail_positions(page)
    positions = sorted((e.position for e in stored_events(stack)), reverse=True)
    assert after == positions  # all of them, each once
    assert len(after) == len(set(after))
    assert after[-len(before) :] == before
    supply = f"{exact(int(product(stack).supply), 18)} tokens"
    page.wait_for_function(
        SUPPLY_IS,
        arg=supply,
        timeout=5_000,
    )


def test_a_violation_is_shown_with_its_position(stack, page):
    launch(stack)
    report(stack, {"BTC": 60_000 * WAD, "ETH": 3_000 * WAD})
    mint(stack, 1_000 * USDC, "m1")
    minted = next(e for e in stored_events(stack) if e.type == "Minted")
    tamperer = Tamperer(stack.store_url)
    rows = tamperer.product_rows(_stream_hex("P"))
    row = next(r for r in rows if json.loads(r[3])["type"] == "Minted")
    tamperer.edit_payload(row, lambda p: p.update(tokens_minted=p["tokens_minted"] + 1))
    page.goto(stack.url)
    page.wait_for_selector("#node-status[data-state=connected]", timeout=15_000)
    page.click("#check")
    page.wait_for_selector("#audit[data-ok]", timeout=60_000)
    assert page.get_attribute("#audit", "data-ok") == "false"
    violation = page.locator("#audit li").first
    assert violation.get_attribute("data-position") == str(minted.position)
    assert f"position {minted.position}" in violation.inner_text()
    assert "hash_chain" in violation.inner_text()


def test_a_token_without_the_viewer_reads_shows_the_refusal(tmp_path, page):
    from tests.dashboard.conftest import TOKENS  # noqa: PLC0415

    stack = Stack(tmp_path)
    try:
        stack.start_node()
        stack.start_dashboard(token=TOKENS["alice"])  # a holder may not read the log
        page.goto(stack.url)
        page.wait_for_selector("#node-status[data-state=disconnected]", timeout=15_000)
        assert "PERMISSION_DENIED" in page.inner_text("#node-status")
    finally:
        stack.close()


def _stream_hex(product_id: str) -> str:
    from adapters.store.records import product_stream_id  # noqa: PLC0415

    return product_stream_id(product_id).hex

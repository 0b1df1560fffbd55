"""Every RPC through a real channel, with the answers the contract promises."""

from __future__ import annotations

import itertools
import json

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from adapters.grpc.stubs import admin_pb2, audit_pb2, common_pb2, keeper_pb2, oracle_pb2, token_pb2
from tests.grpc.conftest import PRICES, T0, USDC, WAD
from tests.grpc.helpers import rejected


def test_launch_takes_the_documented_defaults_for_unset_params(node):
    product = node.launch("P", mint_fee_bps=25)
    assert product.product_id == "P"
    assert product.status == common_pb2.PRODUCT_STATUS_ACTIVE
    assert product.params.target_leverage == str(-WAD)
    assert product.params.mint_fee_bps == 25
    assert product.params.redeem_fee_bps == 10
    assert product.params.band_low == str(8 * WAD // 10)
    assert product.params.ripcord_leverage == str(3 * WAD // 2)
    assert product.params.rebalance_interval_s == 86_400
    assert product.params.max_price_move == str(WAD // 5)
    assert product.index_price == "0"
    assert product.leverage == ""


def test_launch_scales_defaults_to_a_minus_two_target(node):
    product = node.launch("P2", target_leverage=str(-2 * WAD))
    assert product.params.ripcord_leverage == str(3 * WAD)
    assert product.params.band_high == str(24 * WAD // 10)


def test_a_price_report_reaches_the_product_and_sets_its_index_price(node):
    node.launch("P")
    response = node.r1.oracle.ReportPrice(
        oracle_pb2.ReportPriceRequest(
            symbol="BTC",
            price=str(PRICES["BTC"]),
            observed_at=Timestamp(seconds=T0),
            reporter_id="r1",
            request_id="b",
        ),
        metadata=node.r1.md,
    )
    assert [o.product_id for o in response.outcomes] == ["P"]
    assert response.outcomes[0].applied
    assert not response.outcomes[0].price_accepted
    node.report({"ETH": PRICES["ETH"]})
    product = node.admin.token.GetProduct(token_pb2.GetProductRequest(product_id="P"), metadata=node.admin.md)
    assert product.index_price == str(900 * WAD)  # 0.01 x 60,000 + 0.1 x 3,000


def test_mint_redeem_and_transfer_report_amounts_and_positions(ready):
    minted = ready.mint("alice", 1_000 * USDC, "m1")
    assert minted.fee == str(1_000 * USDC // 1_000)  # 10 bps, rounded up: exact here
    assert int(minted.tokens_minted) > 0
    assert int(minted.nav_per_token) <= WAD
    assert minted.position.holder_id == "alice"
    assert minted.position.tokens == minted.tokens_minted
    half = int(minted.tokens_minted) // 2
    moved = ready.alice.token.Transfer(
        token_pb2.TransferRequest(
            product_id="P",
            from_holder_id="alice",
            to_holder_id="bob",
            token_amount=str(half),
            request_id="t1",
        ),
        metadata=ready.alice.md,
    )
    assert moved.to_position.tokens == str(half)
    assert int(moved.from_position.tokens) == int(minted.tokens_minted) - half
    redeemed = ready.bob.token.Redeem(
        token_pb2.RedeemRequest(product_id="P", holder_id="bob", token_amount=str(half), request_id="r1"),
        metadata=ready.bob.md,
    )
    assert 0 < int(redeemed.collateral_out) < 500 * USDC
    assert int(redeemed.fee) > 0
    assert redeemed.position.tokens == "0"
    balance = ready.admin.token.GetBalance(
        token_pb2.GetBalanceRequest(product_id="P", holder_id="bob"), metadata=ready.admin.md
    )
    assert balance.tokens == "0"
    assert balance.value == "0"


def test_a_repeated_request_id_returns_the_first_result_and_writes_nothing(ready):
    first = ready.mint("alice", 1_000 * USDC, "same")
    count = ready.stored_count()
    again = ready.mint("alice", 1_000 * USDC, "same")
    assert again.replayed
    assert not first.replayed
    assert again.tokens_minted == first.tokens_minted
    assert ready.stored_count() == count


def test_get_product_reports_the_vault(ready):
    ready.mint("alice", 1_000 * USDC, "m1")
    product = ready.alice.token.GetProduct(
        token_pb2.GetProductRequest(product_id="P"), metadata=ready.alice.md
    )
    assert int(product.cash) > 1_000 * USDC  # the collateral plus the hedge sale
    assert int(product.debt_units) > 0
    assert int(product.supply) > 0
    assert -WAD * 11 // 10 < int(product.leverage) < -WAD * 9 // 10
    assert [c.symbol for c in product.components] == ["BTC", "ETH"]
    assert product.version > 1


def test_pause_stops_minting_and_resume_restarts_it(ready):
    paused = ready.admin.admin.Pause(
        admin_pb2.PauseRequest(product_id="P", request_id="p"), metadata=ready.admin.md
    )
    assert paused.product.status == common_pb2.PRODUCT_STATUS_PAUSED
    rejected(
        lambda: ready.mint("alice", 1_000 * USDC, "m1"), grpc.StatusCode.FAILED_PRECONDITION, "ProductPaused"
    )
    resumed = ready.admin.admin.Resume(
        admin_pb2.ResumeRequest(product_id="P", request_id="r"), metadata=ready.admin.md
    )
    assert resumed.product.status == common_pb2.PRODUCT_STATUS_ACTIVE
    assert int(ready.mint("alice", 1_000 * USDC, "m1").tokens_minted) > 0


def test_update_parameters_changes_only_the_fields_set(ready):
    response = ready.admin.admin.UpdateParameters(
        admin_pb2.UpdateParametersRequest(
            product_id="P", params=common_pb2.Params(mint_fee_bps=30), request_id="u"
        ),
        metadata=ready.admin.md,
    )
    assert response.product.params.mint_fee_bps == 30
    assert response.product.params.redeem_fee_bps == 10


def test_a_big_move_halts_and_the_admin_resolves_it(ready):
    ready.mint("alice", 1_000 * USDC, "m1")
    ready.advance(60)
    response = ready.r1.oracle.ReportPrice(
        oracle_pb2.ReportPriceRequest(
            symbol="BTC",
            price=str(30_000 * WAD),
            observed_at=Timestamp(seconds=ready.now),
            reporter_id="r1",
            request_id="crash",
        ),
        metadata=ready.r1.md,
    )
    assert response.outcomes[0].halted
    product = ready.admin.admin.ResolveHalt(
        admin_pb2.ResolveHaltRequest(product_id="P", accept=False, request_id="resolve"),
        metadata=ready.admin.md,
    ).product
    assert product.status == common_pb2.PRODUCT_STATUS_ACTIVE
    assert product.index_price == str(900 * WAD)


def test_reconstitute_keeps_the_index_price(ready):
    ready.report({"SOL": 150 * WAD})  # no product holds SOL yet: the oracle book records it
    product = ready.admin.admin.Reconstitute(
        admin_pb2.ReconstituteRequest(
            product_id="P",
            components=[
                common_pb2.Component(symbol="BTC", quantity=str(WAD // 100)),
                common_pb2.Component(symbol="SOL", quantity=str(WAD)),
            ],
            new_symbol_prices=[admin_pb2.SymbolPrice(symbol="SOL", price=str(999 * WAD))],  # ignored
            request_id="recon",
        ),
        metadata=ready.admin.md,
    ).product
    assert [c.symbol for c in product.components] == ["BTC", "SOL"]
    assert abs(int(product.index_price) - 900 * WAD) <= WAD // 10**6
    assert {p.symbol: p.price for p in product.component_prices}["SOL"] == str(150 * WAD)


def test_settle_winds_down_and_holders_redeem_pro_rata(ready):
    minted = ready.mint("alice", 1_000 * USDC, "m1")
    settled = ready.admin.admin.Settle(
        admin_pb2.SettleRequest(product_id="P", request_id="s"), metadata=ready.admin.md
    )
    assert settled.product.status == common_pb2.PRODUCT_STATUS_SETTLED
    assert settled.bad_debt == "0"
    out = ready.alice.token.Redeem(
        token_pb2.RedeemRequest(
            product_id="P", holder_id="alice", token_amount=minted.tokens_minted, request_id="r"
        ),
        metadata=ready.alice.md,
    )
    assert int(out.collateral_out) > 990 * USDC
    assert out.fee == "0"


def test_funding_rate_is_reported_per_product(ready):
    response = ready.r1.oracle.ReportFundingRate(
        oracle_pb2.ReportFundingRateRequest(
            product_id="P", funding_rate=str(-WAD // 10), reporter_id="r1", request_id="f"
        ),
        metadata=ready.r1.md,
    )
    assert response.product.funding_rate == str(-WAD // 10)


def test_rebalance_is_a_no_op_when_nothing_is_due_and_runs_when_due(ready):
    ready.mint("alice", 1_000 * USDC, "m1")
    idle = ready.alice.keeper.Rebalance(
        keeper_pb2.RebalanceRequest(product_id="P", request_id="rb0"), metadata=ready.alice.md
    )
    assert not idle.rebalanced
    assert idle.reason == ""
    ready.advance(3_600)
    ready.report({"BTC": 70_000 * WAD, "ETH": 3_500 * WAD})  # +16.7 %: out of the band
    due = ready.alice.keeper.Rebalance(
        keeper_pb2.RebalanceRequest(product_id="P", request_id="rb1"), metadata=ready.alice.md
    )
    assert due.rebalanced
    assert due.reason == "band"
    assert int(due.leverage_before) < -WAD * 12 // 10 < int(due.leverage_after)


def test_tick_moves_the_clock_forward_only(ready):
    ready.mint("alice", 1_000 * USDC, "m1")
    later = T0 + 86_400
    response = ready.admin.keeper.Tick(
        keeper_pb2.TickRequest(now=Timestamp(seconds=later)), metadata=ready.admin.md
    )
    assert response.now.seconds == later
    assert [o.product_id for o in response.outcomes] == ["P"]
    assert response.outcomes[0].events >= 1  # at least the accrual; the price is stale now
    rejected(
        lambda: ready.admin.keeper.Tick(
            keeper_pb2.TickRequest(now=Timestamp(seconds=T0)), metadata=ready.admin.md
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "cannot go back",
    )


def test_a_fresh_price_after_a_day_lets_the_keeper_run_the_daily_reset(ready):
    ready.mint("alice", 1_000 * USDC, "m1")
    ready.now = T0 + 86_400
    ready.admin.keeper.Tick(keeper_pb2.TickRequest(now=Timestamp(seconds=ready.now)), metadata=ready.admin.md)
    ready.report({s: p * 101 // 100 for s, p in PRICES.items()}, rid="day1")  # a day's move to reset
    ready.now += 1
    response = ready.admin.keeper.Tick(
        keeper_pb2.TickRequest(now=Timestamp(seconds=ready.now)), metadata=ready.admin.md
    )
    assert response.outcomes[0].rebalanced
    assert response.outcomes[0].reason == "schedule"


def test_stream_events_replays_the_log_with_its_hash_chain(ready):
    ready.mint("alice", 1_000 * USDC, "m1")
    events = list(ready.admin.audit.StreamEvents(audit_pb2.StreamEventsRequest(), metadata=ready.admin.md))
    assert events[0].type == "ProductLaunched"
    assert events[0].prev_hash == "0" * 64
    for before, after in itertools.pairwise(events):
        assert after.position > before.position
        assert after.prev_hash == before.hash
    minted = [e for e in events if e.type == "Minted"]
    assert json.loads(minted[0].payload_json)["holder_id"] == "alice"
    assert minted[0].occurred_at.seconds == T0


def test_check_invariants_audits_the_store(ready):
    ready.mint("alice", 1_000 * USDC, "m1")
    report = ready.admin.audit.CheckInvariants(audit_pb2.CheckInvariantsRequest(), metadata=ready.admin.md)
    assert report.ok
    assert not report.violations
    assert report.events_checked == len(
        list(ready.admin.audit.StreamEvents(audit_pb2.StreamEventsRequest(), metadata=ready.admin.md))
    )
    one = ready.admin.audit.CheckInvariants(
        audit_pb2.CheckInvariantsRequest(product_id="P"), metadata=ready.admin.md
    )
    assert one.ok
    assert one.products == 1


def test_health_checking_serves_every_service(node):
    stub = health_pb2_grpc.HealthStub(node.channel)
    for service in ("", "iit.v1.TokenService", "iit.v1.AuditService"):
        assert (
            stub.Check(health_pb2.HealthCheckRequest(service=service)).status
            == health_pb2.HealthCheckResponse.SERVING
        )


def test_check_invariants_over_the_wire_finds_an_edited_event(ready):
    from adapters.store.records import product_stream_id  # noqa: PLC0415
    from tests.store.tamper import Tamperer  # noqa: PLC0415

    ready.mint("alice", 1_000 * USDC, "m1")
    tamperer = Tamperer(ready.store_url)
    rows = tamperer.product_rows(product_stream_id("P").hex)
    minted = next(r for r in rows if b'"Minted"' in r[3])
    tamperer.edit_payload(minted, lambda payload: payload.update(tokens_minted=payload["tokens_minted"] * 2))
    report = ready.admin.audit.CheckInvariants(audit_pb2.CheckInvariantsRequest(), metadata=ready.admin.md)
    assert not report.ok
    first = report.violations[0]
    assert first.invariant == "hash_chain"
    assert first.product_id == "P"
    assert first.position > 0
    assert "edited" in first.detail


def test_many_clients_at_once_all_land_exactly_once(ready):
    import threading  # noqa: PLC0415

    from adapters.grpc.client import Client  # noqa: PLC0415
    from tests.grpc.conftest import TOKENS  # noqa: PLC0415

    errors: list[Exception] = []

    def holder(name: str) -> None:
        client = Client(grpc.insecure_channel(ready.address), TOKENS[name])
        try:
            for index in range(6):
                request_id = f"{name}-{index % 4}"  # two of six are retries of earlier requests
                client.token.Mint(
                    token_pb2.MintRequest(
                        product_id="P",
                        holder_id=name,
                        collateral_amount=str(100 * USDC),
                        request_id=request_id,
                    ),
                    metadata=client.md,
                )
        except Exception as error:
            errors.append(error)
        finally:
            client.close()

    threads = [threading.Thread(target=holder, args=(name,)) for name in ("alice", "bob") for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    minted = [
        e
        for e in ready.admin.audit.StreamEvents(audit_pb2.StreamEventsRequest(), metadata=ready.admin.md)
        if e.type == "Minted"
    ]
    assert len(minted) == 8  # four distinct request ids per holder, each applied once
    report = ready.admin.audit.CheckInvariants(audit_pb2.CheckInvariantsRequest(), metadata=ready.admin.md)
    assert report.ok

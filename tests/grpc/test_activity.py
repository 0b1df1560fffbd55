"""TokenService.ListActivity and `iit activity` over a real server: a holder's history,
paged by opaque tokens, readable by the admin and by that holder only."""

from __future__ import annotations

import grpc
from click.testing import CliRunner

from adapters.cli import main
from adapters.grpc.stubs import token_pb2
from tests.grpc.conftest import TOKENS, USDC, WAD, Harness
from tests.grpc.helpers import rejected


def _list(client, holder: str, **fields) -> token_pb2.ListActivityResponse:
    return client.token.ListActivity(
        token_pb2.ListActivityRequest(holder_id=holder, **fields), metadata=client.md
    )


def test_a_holders_history_page_by_page(ready: Harness) -> None:
    for i in range(5):
        ready.mint("alice", (100 + i) * USDC, f"m{i}")
    ready.alice.token.Transfer(
        token_pb2.TransferRequest(
            product_id="P", from_holder_id="alice", to_holder_id="bob", token_amount=str(WAD), request_id="t1"
        ),
        metadata=ready.alice.md,
    )
    before = ready.stored_count()
    seen, token = [], ""
    while True:
        page = _list(ready.alice, "alice", product_id="P", page_size=2, page_token=token)
        assert len(page.entries) <= 2
        seen += list(page.entries)
        token = page.next_page_token
        if not token:
            break
    assert ready.stored_count() == before  # a read writes nothing to the log
    assert [e.request_id for e in seen] == ["m0", "m1", "m2", "m3", "m4", "t1"]
    assert [e.kind for e in seen] == ["mint"] * 5 + ["transfer_out"]
    assert seen[0].collateral == str(100 * USDC)
    assert seen[0].fee == str(100 * USDC // 1000)
    assert seen[-1].tokens == str(-WAD)
    assert seen[-1].counterparty == "bob"
    assert [e.position for e in seen] == sorted(e.position for e in seen)
    newest = _list(ready.admin, "alice", page_size=1, newest_first=True)
    assert newest.entries[0].request_id == "t1"
    bob = _list(ready.bob, "bob", product_id="P")
    assert [(e.kind, e.tokens) for e in bob.entries] == [("transfer_in", str(WAD))]
    assert bob.next_page_token == ""


def test_activity_is_read_by_the_admin_and_the_holder_only(ready: Harness) -> None:
    ready.mint("alice", 100 * USDC, "m0")
    assert len(_list(ready.admin, "alice").entries) == 1
    rejected(lambda: _list(ready.bob, "alice"), grpc.StatusCode.PERMISSION_DENIED)
    rejected(lambda: _list(ready.r1, "alice"), grpc.StatusCode.PERMISSION_DENIED)
    rejected(lambda: _list(ready.anon, "alice"), grpc.StatusCode.UNAUTHENTICATED)


def test_bad_paging_is_invalid_argument(ready: Harness) -> None:
    rejected(
        lambda: _list(ready.admin, "alice", page_size=501), grpc.StatusCode.INVALID_ARGUMENT, "page_size"
    )
    rejected(lambda: _list(ready.admin, "alice", page_size=-1), grpc.StatusCode.INVALID_ARGUMENT, "page_size")
    rejected(
        lambda: _list(ready.admin, "alice", page_token="not-a-token"),  # noqa: S106
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token",
    )
    rejected(lambda: _list(ready.admin, "alice", product_id="NOPE"), grpc.StatusCode.NOT_FOUND)
    rejected(lambda: _list(ready.admin, ""), grpc.StatusCode.INVALID_ARGUMENT, "holder_id")


def test_iit_activity_prints_every_page(ready: Harness) -> None:
    for i in range(3):
        ready.mint("alice", 1 * USDC, f"m{i}")
    result = CliRunner().invoke(
        main,
        [
            "activity",
            "--holder",
            "alice",
            "--address",
            ready.address,
            "--token",
            TOKENS["alice"],
            "--page-size",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["POSITION", "AT", "(UTC)", "PRODUCT"]
    assert len(lines) == 4
    assert all(" mint " in line and " 0.001 " in line for line in lines[1:])
    assert [line.split()[-1] for line in lines[1:]] == ["m0", "m1", "m2"]
    refused = CliRunner().invoke(
        main, ["activity", "--holder", "alice", "--address", ready.address, "--token", TOKENS["bob"]]
    )
    assert refused.exit_code == 2
    assert "PERMISSION_DENIED" in refused.output


def test_a_serving_node_keeps_the_model_behind_the_log_without_being_asked(ready: Harness) -> None:
    import time  # noqa: PLC0415

    ready.mint("alice", 100 * USDC, "m0")
    store_max = ready.stored_count()
    model = ready.running.service.reads._activity
    deadline = time.monotonic() + 60  # generous: the follower runs every second
    while (model is None or model.position()[0] < store_max) and time.monotonic() < deadline:
        time.sleep(0.05)
        model = ready.running.service.reads._activity
    assert model is not None
    assert model.position()[0] == store_max

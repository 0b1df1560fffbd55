"""The node process's line protocol: commands in, one acknowledgement per line out."""

from __future__ import annotations

import io
import json

from adapters.store.codec import decode_command, encode_command
from adapters.store.driver import serve
from domain import commands as cmd
from domain.params import default_params
from tests.store.factory import open_node
from tests.support import DEFAULT_COMPONENTS

T0 = 1_700_000_000


def test_every_command_type_survives_the_trip_through_json():
    launch = cmd.LaunchProduct("P", DEFAULT_COMPONENTS, default_params())
    for command in (launch, cmd.Mint("alice", 5, 0), cmd.Tick(), cmd.ResolveHalt(accept=True)):
        assert decode_command(json.loads(json.dumps(encode_command(command)))) == command


def test_the_driver_acknowledges_each_line_in_order_and_names_what_it_refused(store_url):
    launch = encode_command(cmd.LaunchProduct("P", DEFAULT_COMPONENTS, default_params()))
    lines = [
        json.dumps({"request_id": "l", "product_id": "P", "now": T0, "command": launch}),
        "not json",
        json.dumps({"request_id": "r", "product_id": "P", "now": T0, "command": {"type": "Nope"}}),
        "",
        json.dumps(
            {"request_id": "m", "product_id": "P", "now": T0, "command": encode_command(cmd.Mint("a", 1, 0))}
        ),
        json.dumps({"request_id": "l", "product_id": "P", "now": T0 + 9, "command": launch}),
    ]
    out = io.StringIO()
    node = open_node(store_url)
    try:
        assert serve(node, [line + "\n" for line in lines], out) == 5
    finally:
        node.close()
    acks = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(a["request_id"], a["ok"]) for a in acks] == [
        ("l", True),
        (None, False),
        ("r", False),
        ("m", False),
        ("l", True),
    ]
    assert [a["error"] for a in acks if not a["ok"]] == ["BadRequest", "BadRequest", "PriceUnavailable"]
    assert (acks[0]["replayed"], acks[-1]["replayed"]) == (False, True)
    assert acks[0]["events"] == acks[-1]["events"] > 0

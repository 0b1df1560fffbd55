"""Stores written before ``UpdateParameters`` was a patch: their markers carry the
fingerprint of the whole merged parameters. A retry of such a request after the upgrade
is still recognised as the same command (and answers its first result), on both stores."""

from __future__ import annotations

import json

import attrs
import pytest

from adapters.store.codec import command_fingerprint, legacy_update_fingerprint
from adapters.store.contract import RequestIdReused
from adapters.store.node import Node
from adapters.store.records import request_stream_id
from domain import commands as cmd
from domain.params import default_params
from tests.store.tamper import Tamperer
from tests.store.test_node import T0, launched_node


def _as_written_before_patches(url: str, request_id: str, fingerprint: str) -> None:
    """Rewrite the request's marker to carry ``fingerprint``, as the earlier code wrote it."""
    tamper = Tamperer(url)
    stream = request_stream_id(request_id)
    [row] = tamper.product_rows(stream.hex if url.startswith("sqlite") else str(stream))
    marker = json.loads(row[3])
    marker["fingerprint"] = fingerprint
    tamper.set_state(row, json.dumps(marker).encode())


def test_a_retry_of_an_update_handled_before_patches_answers_its_first_result(store_url):
    node = launched_node(store_url)
    patch = cmd.UpdateParameters((("mint_fee_bps", 30),))
    first = node.execute("P", patch, "u1", T0 + 1)
    merged = attrs.evolve(default_params(), mint_fee_bps=30)
    assert first.state.params == merged
    # The earlier servicer merged the client's fields into the current parameters, and the
    # fingerprint covered the result: exactly what the ParametersUpdated event records.
    assert command_fingerprint("P", patch) != legacy_update_fingerprint("P", merged)
    _as_written_before_patches(store_url, "u1", legacy_update_fingerprint("P", merged))
    node.execute("P", cmd.UpdateParameters((("redeem_fee_bps", 40),)), "u2", T0 + 2)

    again = Node.open(store_url).execute("P", patch, "u1", T0 + 3)
    assert again.replayed
    assert (again.events, again.state, again.version) == (first.events, first.state, first.version)
    with pytest.raises(RequestIdReused):
        Node.open(store_url).execute("P", cmd.UpdateParameters((("mint_fee_bps", 31),)), "u1", T0 + 3)

"""The audit finds tampering — an edited payload, a deleted event, two swapped events — and
names the event's position, on both stores; on a store the node wrote it is clean."""

from __future__ import annotations

import pytest

from adapters.audit.report import audit
from adapters.store.event_store import Loaded
from adapters.store.node import Node
from adapters.store.records import product_stream_id, request_stream_id
from domain import commands as cmd
from tests.store.tamper import Tamperer
from tests.store.test_node import T0, launched_node
from tests.support import USDC


@pytest.fixture
def written(store_url):
    node = launched_node(store_url)
    node.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0 + 1)
    node.execute("P", cmd.Mint("bob", 500 * USDC, 0), "m2", T0 + 2)
    node.execute("P", cmd.Transfer("alice", "carol", 10**18), "t1", T0 + 3)
    node.execute("P", cmd.Redeem("bob", 10**20, 0), "r1", T0 + 4)
    assert audit(Node.open(store_url)).ok
    tamperer = Tamperer(store_url)
    stream = product_stream_id("P")
    rows = tamperer.product_rows(stream.hex if store_url.startswith("sqlite") else str(stream))
    return store_url, tamperer, rows


def _first(report):
    assert not report.ok
    return report.findings[0]


def _row_of_type(rows, type_name):
    import json  # noqa: PLC0415

    return next(r for r in rows if json.loads(r[3])["type"] == type_name)


def test_an_edited_payload_is_found_at_its_position(written):
    url, tamperer, rows = written
    minted = _row_of_type(rows, "Minted")
    tamperer.edit_payload(minted, lambda p: p.update(tokens_minted=p["tokens_minted"] + 1))
    finding = _first(audit(Node.open(url)))
    assert (finding.position, finding.version) == (minted[0], minted[2])
    assert finding.invariant == "hash_chain"
    assert "edited" in finding.detail


def test_a_deleted_event_is_found_where_it_was(written):
    url, tamperer, rows = written
    victim = rows[5]
    tamperer.delete(victim)
    finding = _first(audit(Node.open(url)))
    assert finding.version == victim[2] + 1
    assert finding.invariant == "hash_chain"
    assert "missing" in finding.detail


def test_two_swapped_events_are_found_at_the_first_of_them(written):
    url, tamperer, rows = written
    tamperer.swap_contents(rows[4], rows[5])
    finding = _first(audit(Node.open(url)))
    assert (finding.position, finding.version) == (rows[4][0], rows[4][2])
    assert finding.invariant == "hash_chain"


def _iit_audit(*args: str):
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "adapters.cli", "audit", *args], capture_output=True, text=True, check=False
    )


def test_iit_audit_exits_0_on_a_clean_store_and_1_naming_the_event_on_a_tampered_one(written):
    url, tamperer, rows = written
    clean = _iit_audit("--store", url)
    assert clean.returncode == 0, clean.stderr
    assert "clean" in clean.stdout
    tamperer.edit_payload(rows[6], lambda p: p.update(at=p["at"] + 1))
    dirty = _iit_audit("--store", url, "--product", "P")
    assert dirty.returncode == 1
    assert f"position {rows[6][0]}, product P version {rows[6][2]}: hash_chain" in dirty.stdout


def test_iit_audit_exits_2_when_it_cannot_run(tmp_path):
    missing = _iit_audit("--store", f"sqlite:///{tmp_path}/none.db")
    assert missing.returncode == 2
    assert "no store" in missing.stderr
    bad_url = _iit_audit("--store", "mysql://x/y")
    assert bad_url.returncode == 2
    assert "unknown store URL scheme" in bad_url.stderr


def test_iit_audit_shows_progress_on_long_logs(written):
    url, _, _ = written
    result = _iit_audit("--store", url, "--progress-every", "5")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("audit: ")]
    total = int(lines[0].split(" of ")[1].split()[0].replace(",", ""))
    assert total > 10
    assert lines[0] == f"audit: 5 of {total:,} records read ({100 * 5 // total}%)…"
    assert lines[1].startswith("audit: 10 of ")
    assert lines[-1] == f"audit: {total:,} of {total:,} records read (100%)…"
    assert "clean" in result.stdout


def test_a_short_log_is_audited_without_progress_noise(written):
    url, _, _ = written
    result = _iit_audit("--store", url)
    assert result.returncode == 0, result.stderr
    assert "records read" not in result.stderr


def test_an_audit_of_one_product_reports_progress_over_the_whole_store(written):
    url, _, _ = written
    calls: list[tuple[int, int]] = []
    node = Node.open(url)
    total = node.recorder.max_notification_id()
    assert audit(node, "no-such-product", progress=lambda *c: calls.append(c), progress_every=4).ok
    assert calls == [*((n, total) for n in range(4, total + 1, 4)), *([(total, total)] if total % 4 else [])]


def test_the_audit_runs_on_a_live_node_while_it_writes_and_reports_nothing_false(store_url):
    """gRPC CheckInvariants audits the serving node itself while commands keep arriving:
    events appended after the replay reached its end are not violations."""
    import threading  # noqa: PLC0415

    node = launched_node(store_url)
    node.execute("P", cmd.Mint("alice", 10_000 * USDC, 0), "seed", T0 + 1)
    stop = threading.Event()
    transfers: list[int] = []

    def write() -> None:
        while not stop.is_set():
            node.execute("P", cmd.Transfer("alice", "bob", 1), f"t{len(transfers)}", T0 + 2)
            transfers.append(1)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        # At least 15 audits, and on until one sees what the writer committed after the
        # first began (on a loaded machine it may not get the GIL during the first few).
        reports = [audit(node)]
        while len(reports) < 15 or reports[-1].events_checked == reports[0].events_checked:
            assert len(reports) < 5_000, "the writer made no progress"
            reports.append(audit(node))
    finally:
        stop.set()
        writer.join()
    assert len(transfers) > 0
    assert [r.findings for r in reports if not r.ok] == []
    assert reports[-1].events_checked > reports[0].events_checked
    assert audit(Node.open(store_url)).ok


def test_a_snapshot_beyond_the_end_of_the_log_is_a_finding(written):
    url, _, _ = written
    node = Node.open(url)
    loaded = node.load("P")
    node.snapshot("P", Loaded(loaded.state, loaded.version + 3, loaded.last_hash))
    findings = audit(Node.open(url)).findings
    assert [(f.invariant, f.version) for f in findings][:1] == [("snapshot_matches_log", loaded.version + 3)]


def _stream_key(url, stream):
    return stream.hex if url.startswith("sqlite") else str(stream)


def test_a_request_applied_twice_is_found_at_its_second_decision(written):
    """Without its marker (deleted here), a retry of m1 is decided again: the hash chain
    stays intact, and only the idempotency check sees the request applied twice."""
    url, tamperer, _ = written
    (marker,) = tamperer.product_rows(_stream_key(url, request_stream_id("m1")))
    tamperer.delete(marker)
    node = Node.open(url)
    again = node.execute("P", cmd.Mint("alice", 1_000 * USDC, 0), "m1", T0 + 5)
    assert not again.replayed  # the node could not know: that is what the audit is for
    findings = audit(Node.open(url)).findings
    assert {f.invariant for f in findings} == {"idempotency"}
    (twice,) = [f for f in findings if "applied again" in f.detail]
    assert twice.version == node.load("P").version - len(again.events) + 1
    # ...and the first decision no longer has the marker that made a retry a replay.
    assert any("would not be recognised" in f.detail for f in findings)


def test_a_decision_cut_off_the_end_of_a_stream_is_found_by_its_marker(written):
    url, tamperer, rows = written
    node = Node.open(url)
    last = [r for r in node.stored_events("P") if r.request_id == "r1"]
    for row in rows[-len(last) :]:
        tamperer.delete(row)
    findings = audit(Node.open(url)).findings
    assert [f.invariant for f in findings] == ["idempotency"]
    assert "'r1'" in findings[0].detail
    assert "not in the log" in findings[0].detail


def _payload_rewritten(state: bytes, how: str) -> bytes:
    """A Minted row's stored JSON, its payload rewritten ``how``."""
    import json  # noqa: PLC0415

    from adapters.store.codec import canonical_json  # noqa: PLC0415

    at = state.rfind(b',"payload":')
    head, canonical = state[:at], state[at + len(b',"payload":') : -1]
    record, payload = json.loads(state), json.loads(canonical)
    edited = canonical_json({**payload, "tokens_minted": payload["tokens_minted"] + 1}).encode()
    if how == "reformatted":
        return json.dumps({**record, "payload": dict(reversed(payload.items()))}, indent=1).encode()
    if how == "its keys in another order, still last":
        reordered = json.dumps(dict(reversed(payload.items())), separators=(",", ":")).encode()
        return head + b',"payload":' + reordered + b"}"
    if how == "payload first":
        rest = {k: v for k, v in record.items() if k != "payload"}
        return json.dumps({"payload": payload, **rest}).encode()
    if how == "an edited payload before the real one":
        return head + b',"payload":' + edited + b',"payload":' + canonical + b"}"
    if how == "the real payload before an edited one":
        return head + b',"payload":' + canonical + b',"payload":' + edited + b"}"
    assert how == "the payload copied under a deeper payload key"
    nested = canonical_json({**payload, "x": {"payload": payload}}).encode()
    return head + b',"payload":' + nested + b"}"


@pytest.mark.parametrize(
    ("how", "clean"),
    [
        ("reformatted", True),
        ("its keys in another order, still last", True),
        ("payload first", True),
        ("an edited payload before the real one", True),  # JSON keeps the last key
        ("the real payload before an edited one", False),
        ("the payload copied under a deeper payload key", False),
    ],
)
def test_hashing_the_payload_as_stored_judges_every_row_as_encoding_it_again_does(
    written, monkeypatch, how, clean
):
    """The audit hashes the payload's JSON as the node stored it when that verifies, and the
    re-encoded decoded payload otherwise: the same verdicts as the definition, whatever the
    row looks like."""
    from adapters.audit import engine as audit_replay  # noqa: PLC0415

    url, tamperer, rows = written
    minted = _row_of_type(rows, "Minted")
    tamperer.set_state(minted, _payload_rewritten(minted[3], how))
    as_stored = audit(Node.open(url))
    monkeypatch.setattr(audit_replay, "stored_payload_json", lambda _state: None)
    by_definition = audit(Node.open(url))
    assert as_stored.findings == by_definition.findings
    assert as_stored.ok is clean

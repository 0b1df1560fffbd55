"""Every service, RPC, message, field, enum and enum value of proto/iit/v1 carries a
comment (the contract documents units, rounding and roles where it is read), and the
names SPEC §5 fixes are there."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]


def _files(directory: Path) -> list[descriptor_pb2.FileDescriptorProto]:
    out = directory / "iit-v1.pb"
    protos = sorted(
        str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto" / "iit" / "v1").glob("*.proto")
    )
    include = Path(protoc.__file__).parent / "_proto"
    code = protoc.main(
        [
            "protoc",
            f"-I{ROOT / 'proto'}",
            f"-I{include}",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *protos,
        ]
    )
    assert code == 0
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    return [f for f in files if f.package == "iit.v1"]


def test_every_element_of_the_contract_is_commented(tmp_path):
    undocumented = []
    for file in _files(tmp_path):
        commented = {
            tuple(location.path)
            for location in file.source_code_info.location
            if location.leading_comments.strip() or location.trailing_comments.strip()
        }
        # Paths of FileDescriptorProto: 4 message_type, 5 enum_type, 6 service; inside them
        # 2 field / 2 enum value / 2 method.
        for m, message in enumerate(file.message_type):
            if (4, m) not in commented:
                undocumented.append(f"{file.name}: message {message.name}")
            undocumented += [
                f"{file.name}: {message.name}.{field.name}"
                for f, field in enumerate(message.field)
                if (4, m, 2, f) not in commented
            ]
        for e, enum in enumerate(file.enum_type):
            if (5, e) not in commented:
                undocumented.append(f"{file.name}: enum {enum.name}")
            undocumented += [
                f"{file.name}: {enum.name}.{value.name}"
                for v, value in enumerate(enum.value)
                if (5, e, 2, v) not in commented
            ]
        for s, service in enumerate(file.service):
            if (6, s) not in commented:
                undocumented.append(f"{file.name}: service {service.name}")
            undocumented += [
                f"{file.name}: {service.name}.{method.name}"
                for r, method in enumerate(service.method)
                if (6, s, 2, r) not in commented
            ]
    assert not undocumented, "\n".join(undocumented)


def test_the_names_spec_section_5_fixes_are_in_the_contract(tmp_path):
    files = _files(tmp_path)
    methods = {f"{s.name}.{m.name}" for f in files for s in f.service for m in s.method}
    fields = {m.name: {f.name for f in m.field} for f in files for m in f.message_type}
    assert {
        "AdminService.LaunchProduct",
        "AdminService.Pause",
        "AdminService.Resume",
        "AdminService.UpdateParameters",
        "OracleService.ReportPrice",
        "OracleService.ReportFundingRate",
        "TokenService.Mint",
        "TokenService.Redeem",
        "TokenService.Transfer",
        "TokenService.GetProduct",
        "TokenService.GetBalance",
        "KeeperService.Rebalance",
        "KeeperService.Tick",
        "AuditService.StreamEvents",
        "AuditService.CheckInvariants",
    } <= methods
    assert {"product_id", "components", "params", "request_id"} <= fields["LaunchProductRequest"]
    assert {"symbol", "quantity"} <= fields["Component"]
    assert {"symbol", "price", "observed_at", "reporter_id", "request_id"} <= fields["ReportPriceRequest"]
    assert {"product_id", "holder_id", "collateral_amount", "min_tokens_out", "request_id"} <= fields[
        "MintRequest"
    ]
    assert {"tokens_minted", "fee", "nav_per_token", "position"} <= fields["MintResponse"]
    assert {"product_id", "holder_id", "token_amount", "min_collateral_out", "request_id"} <= fields[
        "RedeemRequest"
    ]
    assert {"collateral_out", "fee", "nav_per_token", "position"} <= fields["RedeemResponse"]
    assert {"status", "cash", "debt_units", "supply", "index_price", "nav_per_token", "leverage"} <= fields[
        "Product"
    ]
    assert "tokens" in fields["GetBalanceResponse"]
    assert {"rebalanced", "reason"} <= fields["RebalanceResponse"]
    assert "now" in fields["TickRequest"]
    assert {"from_position", "follow", "product_id"} <= fields["StreamEventsRequest"]
    assert {"position", "product_id", "type", "occurred_at", "payload_json", "hash", "prev_hash"} <= fields[
        "Event"
    ]
    assert {"ok", "events_checked", "violations"} <= fields["CheckInvariantsResponse"]
    assert {"position", "invariant", "detail"} <= fields["Violation"]
    assert {
        "target_leverage",
        "band_low",
        "band_high",
        "ripcord_leverage",
        "rebalance_interval_s",
        "max_trade_notional",
        "mint_fee_bps",
        "redeem_fee_bps",
        "streaming_fee_bps",
        "execution_cost_bps",
        "max_oracle_age_s",
        "max_price_move",
        "oracle_quorum",
        "collateral_decimals",
        "supply_cap",
    } <= fields["Params"]

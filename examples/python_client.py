"""A Python integrator's first steps with the node: preview a mint, mint with the preview
as the slippage bound, read the balance and the holder's history, and branch on an
error's name. Run against a node that has a product with a fresh price (`make demo`'s
story, or the README's grpcurl tour):

    uv run python examples/python_client.py --address 127.0.0.1:50051 --product DEMO \\
        --holder alice --token change-me-alice-00001 --collateral 1000000
"""

from __future__ import annotations

import argparse
import uuid

import grpc

from adapters.grpc.client import Client, channel, error_reason
from adapters.grpc.stubs import token_pb2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--product", default="DEMO")
    parser.add_argument("--holder", default="alice")
    parser.add_argument("--token", default=None, help="the holder's bearer token (none in development mode)")
    parser.add_argument("--collateral", default="1000000", help="collateral base units (1.0 USDC = 1000000)")
    args = parser.parse_args()
    client = Client(channel(args.address), args.token)
    try:
        # 1. What would a mint give now? (writes nothing)
        quote = client.token.QuoteMint(
            token_pb2.QuoteMintRequest(product_id=args.product, collateral_amount=args.collateral),
            metadata=client.md,
        )
        print(f"quote: {quote.tokens_out} tokens, fee {quote.fee}, NAV {quote.nav_per_token}")
        # 2. Mint with the quote as the least acceptable result; the request id makes a retry safe.
        minted = client.token.Mint(
            token_pb2.MintRequest(
                product_id=args.product,
                holder_id=args.holder,
                collateral_amount=args.collateral,
                min_tokens_out=quote.tokens_out,
                request_id=f"example-{uuid.uuid4()}",
            ),
            metadata=client.md,
        )
        print(f"minted: {minted.tokens_minted} tokens, now holding {minted.position.tokens}")
        # 3. The holder's history, newest first.
        page = client.token.ListActivity(
            token_pb2.ListActivityRequest(
                product_id=args.product, holder_id=args.holder, page_size=5, newest_first=True
            ),
            metadata=client.md,
        )
        for entry in page.entries:
            print(f"activity: {entry.kind} {entry.tokens} tokens ({entry.request_id})")
    except grpc.RpcError as error:
        # Branch on the error's name (google.rpc.ErrorInfo.reason), not on the message.
        reason = error_reason(error)
        if reason == "SlippageExceeded":
            print("the price moved between the quote and the mint: quote again")
        print(f"failed: {error.code().name} {reason}: {error.details()}")
        return 1
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

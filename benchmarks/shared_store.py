"""Row 8 of ``make bench``: durable commands/s of N node processes sharing one PostgreSQL
store, the same 16 clients spread over them, against one node with all 16.

Each node is a process of its own (``shared_node``: a ``Node`` and its group-commit writer,
as ``iit serve`` runs them, without gRPC) with its share of the client threads and of the
products (products ``i::N``: a product's commands go to one node, as a router by product
id would send them, so nodes never race for a product's versions). The nodes set up, say
they are ready, start together, and report when their clients began and finished; the
rate is every command over the span from the first start to the last finish. Rounds
alternate one node and N nodes, each on a fresh schema; the median ratio is reported.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from adapters.store.node import Node
from adapters.store.url import store_env
from adapters.store.writer import GroupCommitWriter
from benchmarks.workload import CLIENTS, launch, run_clients

Figures = dict[str, Any]


def nodes_on_one_store(args: Figures) -> Figures:
    """``args``: ``url`` (PostgreSQL, a database to make schemas in), ``nodes``, ``products``,
    ``per_client``, ``rounds``."""
    rounds = []
    for round_number in range(args.get("rounds", 3)):
        one = _run(args["url"], 1, args["products"], args["per_client"], f"r{round_number}n1")
        many = _run(args["url"], args["nodes"], args["products"], args["per_client"], f"r{round_number}nN")
        rounds.append({"one": one, "many": many, "ratio": many["commands_per_s"] / one["commands_per_s"]})
    median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    return {
        "nodes": args["nodes"],
        "ratio": median["ratio"],
        "one": median["one"],
        "many": median["many"],
        "rounds": [{"ratio": r["ratio"]} for r in rounds],
        "ratio_median": statistics.median(r["ratio"] for r in rounds),
    }


def _run(database_url: str, nodes: int, products: int, per_client: int, tag: str) -> Figures:
    schema = f"iit_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{database_url}?schema={schema}"
    try:
        names = [f"{tag}P{i}" for i in range(products)]
        setup = Node(store_env(url))
        for product_id in names:
            launch(setup, product_id)
        setup.close()
        children = [
            subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [
                    sys.executable,
                    "-m",
                    "benchmarks.scenarios",
                    "shared_node",
                    json.dumps(
                        {
                            "url": url,
                            "products": names[k::nodes],
                            "clients": CLIENTS // nodes,
                            "per_client": per_client,
                            "tag": f"{tag}:{k}",
                        }
                    ),
                ],
                cwd=Path(__file__).resolve().parent.parent,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for k in range(nodes)
        ]
        for child in children:  # each says it is ready once its node and writer are up
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        reports = []
        for child in children:
            out, _ = child.communicate(timeout=600)
            if child.returncode:
                raise RuntimeError(f"a node of row 8 failed ({child.returncode})")
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    commands = sum(r["commands"] for r in reports)
    span = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
    return {
        "commands": commands,
        "commands_per_s": commands / span,
        "batches": sum(r["batches"] for r in reports),
        "per_node_commands_per_s": [r["commands"] / (r["ended"] - r["began"]) for r in reports],
        "cpu_us_per_command": sum(r["cpu_s"] for r in reports) / commands * 1e6,
    }


def one_of_the_nodes(args: Figures) -> Figures:
    """One node process of row 8: set up, say ``ready``, wait for ``go``, run its clients."""
    node = Node(store_env(args["url"]))
    for product_id in args["products"]:
        node.load(product_id)
    writer = GroupCommitWriter(node)
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    run = run_clients(writer, args["products"], args["per_client"], tag=args["tag"], clients=args["clients"])
    ended = time.time()
    cpu = time.process_time() - cpu
    writer.close()
    if run.rejected:
        raise RuntimeError(f"{run.rejected} commands were rejected: the figures would lie")
    return {
        "commands": run.commands,
        "began": ended - run.elapsed_s,
        "ended": ended,
        "batches": run.batches,
        "cpu_s": cpu,
    }

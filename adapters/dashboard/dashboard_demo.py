"""``make dashboard``: a demo node playing the scripted market, and ``iit dashboard`` beside
it as its own process with a viewer token, so a newcomer sees the page move in one command.

The node runs in this process on a free loopback port with a temporary SQLite store and a
simulated clock; the story of ``iit demo`` is played through gRPC clients one step every
``--step-seconds`` (launch, mints, a dip, the daily reset, a rally that pulls the ripcord,
a pause, a BTC crash that halts the product until more reporters confirm it), then the
market wanders on (an hour a step, a seeded random walk, holders minting and redeeming, a
second product at −2×) until Ctrl-C.

    uv run python -m adapters.dashboard.dashboard_demo --listen 127.0.0.1:8080
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import FrameType

import click
import grpc
from attrs import define

from adapters.demo_market import HOUR, USDC
from adapters.grpc.client import Client
from adapters.grpc.demo import HOLDERS, Driver, demo_store_url, script, start_demo_node
from adapters.grpc.stubs import admin_pb2, common_pb2, token_pb2
from domain.fixedpoint import WAD

SECOND_PRODUCT = "IIT-2X"
MAX_STEP_MOVE_BPS = 250  # a wandering step moves each price by at most 2.5 %


@define
class PacedDriver(Driver):
    """The demo's driver, pausing after every row so that a person can watch it."""

    pause_s: float = 1.0

    def row(self, label: str, outcome: str | None = None) -> None:
        super().row(label, outcome)
        click.echo(f"  {self.rows[-1][0]}  {label}: {self.rows[-1][-1]}")
        time.sleep(self.pause_s)


def _launch_second(d: PacedDriver) -> None:
    admin = d.clients["admin"]
    admin.admin.LaunchProduct(
        admin_pb2.LaunchProductRequest(
            product_id=SECOND_PRODUCT,
            components=[
                common_pb2.Component(symbol="BTC", quantity=str(WAD // 100)),
                common_pb2.Component(symbol="ETH", quantity=str(WAD // 10)),
            ],
            params=common_pb2.Params(target_leverage=str(-2 * WAD)),
            request_id="demo-launch-2x",
        ),
        metadata=admin.md,
    )


def _mint_second(d: PacedDriver, holder: str, amount: int, rid: str) -> None:
    client = d.clients[holder]
    request = token_pb2.MintRequest(
        product_id=SECOND_PRODUCT, holder_id=holder, collateral_amount=str(amount), request_id=rid
    )
    try:
        client.token.Mint(request, metadata=client.md)
    except grpc.RpcError as error:
        click.echo(f"  {SECOND_PRODUCT}: {holder}'s mint refused: {error.code().name}")


def wander(d: PacedDriver, rng: random.Random) -> None:
    """The market after the story: an hour a step, for ever."""
    _launch_second(d)
    step = 0
    while True:
        step += 1
        prices = {
            symbol: price * (10_000 + rng.randint(-MAX_STEP_MOVE_BPS, MAX_STEP_MOVE_BPS)) // 10_000
            for symbol, price in d.prices.items()
        }
        d.move(d.now + HOUR, f"market step {step}", prices)
        if step == 1 or step % 5 == 0:
            holder = rng.choice(HOLDERS)
            _mint_second(d, holder, rng.randint(100, 2_000) * USDC, f"demo-2x-{step}")
        if step % 3 == 0:
            holder = rng.choice(HOLDERS)
            if rng.random() < 0.6:
                d.step(d.now + 60, f"{holder} mints", d.mint(holder, rng.randint(100, 3_000) * USDC))
            else:
                d.step(d.now + 60, f"{holder} redeems half", d.redeem_half(holder))


def _wait_for(process: subprocess.Popen[bytes], url: str, timeout_s: float = 120.0) -> None:
    """Until the dashboard answers (the story starts with the page ready), or fail if it exits."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()  # noqa: S310 - our own loopback page
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise click.ClickException(
                    f"the dashboard did not start on {url} (is the port taken?)"
                ) from None
            time.sleep(0.2)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command(help=__doc__)
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="host:port of the dashboard.")
@click.option("--step-seconds", type=click.FloatRange(min=0.0), default=1.5, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the wandering market.")
def main(listen: str, step_seconds: float, seed: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="iit-dashboard-demo-"))
    node, tokens = start_demo_node(directory, viewer=True)
    address = f"127.0.0.1:{node.port}"
    dashboard = subprocess.Popen(  # noqa: S603 - this interpreter, our own CLI
        [
            sys.executable,
            "-c",
            "from adapters.cli import main; main()",
            "dashboard",
            "--node",
            address,
            "--listen",
            listen,
            "--clock",
            "log",
            "--log-level",
            "warning",
        ],
        env={**os.environ, "IIT_DASHBOARD_TOKEN": tokens["viewer"]},
    )
    click.echo(
        f"demo node on {address} (store {demo_store_url(directory)}, simulated clock); "
        f"the dashboard, with a viewer token: http://{listen}/  (Ctrl-C stops both)"
    )
    channel = grpc.insecure_channel(address)
    # SIGTERM stops the demo as Ctrl-C does, so the dashboard process goes with it.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _wait_for(dashboard, f"http://{listen}/api/status")
        driver = PacedDriver(
            node, {who: Client(channel, token) for who, token in tokens.items()}, pause_s=step_seconds
        )
        script(driver)
        wander(driver, random.Random(seed))  # noqa: S311 - a demo's market, not a secret
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=10)
        channel.close()
        node.stop(0)


if __name__ == "__main__":
    main()

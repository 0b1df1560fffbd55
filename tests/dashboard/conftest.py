"""A real stack for the dashboard's tests: ``iit serve`` and ``iit dashboard`` as separate
processes on loopback (the node on a simulated clock, with a token per role; the dashboard
with the viewer token), and Debian's headless Chromium driven by Playwright.

Chromium is ``/usr/bin/chromium`` (``IIT_CHROMIUM`` overrides; Playwright never downloads a
browser here). Without it the browser cases skip saying why, except under
``IIT_REQUIRE_CHROMIUM=1`` (set by ``.ci/run``, which installs it), where they fail.
Screenshots go to ``test-artifacts/`` (``IIT_TEST_ARTIFACTS`` overrides).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from adapters.grpc.client import Client
from tests.grpc.test_cli import free_port, wait_ready

IIT = str(Path(sys.prefix) / "bin" / "iit")
CHROMIUM = os.environ.get("IIT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("IIT_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
TOKENS = {
    "admin": "dash-admin-token-00000001",
    "r1": "dash-oracle-r1-token-0001",
    "r2": "dash-oracle-r2-token-0002",
    "alice": "dash-alice-token-00000001",
    "viewer": "dash-viewer-token-0000001",
}
AUTH = (
    f'[[tokens]]\ntoken = "{TOKENS["admin"]}"\nrole = "admin"\n\n'
    f'[[tokens]]\ntoken = "{TOKENS["r1"]}"\nrole = "oracle"\nreporter_id = "r1"\n\n'
    f'[[tokens]]\ntoken = "{TOKENS["r2"]}"\nrole = "oracle"\nreporter_id = "r2"\n\n'
    f'[[tokens]]\ntoken = "{TOKENS["alice"]}"\nrole = "holder"\nholder_id = "alice"\n\n'
    f'[[tokens]]\ntoken = "{TOKENS["viewer"]}"\nrole = "viewer"\n'
)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("IIT_")}


class Stack:
    """A node process (killable, restartable on the same port and store), a dashboard
    process over it, and clients per role."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.store_url = f"sqlite:///{tmp_path}/node.db"
        self.auth_file = tmp_path / "auth.toml"
        self.auth_file.write_text(AUTH)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.web_port = free_port()
        self.url = f"http://127.0.0.1:{self.web_port}/"
        self.node: subprocess.Popen[str] | None = None
        self.dashboard: subprocess.Popen[str] | None = None
        self.channel = grpc.insecure_channel(self.address)
        self.clients = {who: Client(self.channel, token) for who, token in TOKENS.items()}

    def start_node(self) -> None:
        self.node = subprocess.Popen(  # noqa: S603 - our own CLI
            [
                IIT,
                "serve",
                "--store",
                self.store_url,
                "--listen",
                self.address,
                "--auth-file",
                str(self.auth_file),
                "--clock",
                "simulated",
                "--start",
                str(T0),
                "--log-level",
                "warning",
            ],
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=(self.tmp_path / "node.log").open("a"),
            text=True,
        )
        wait_ready(self.address, 60)

    def kill_node(self) -> None:
        assert self.node is not None
        self.node.kill()  # SIGKILL: no goodbye to the dashboard
        self.node.wait(10)
        self.node = None

    def start_dashboard(self, token: str | None = None) -> None:
        self.dashboard = subprocess.Popen(  # noqa: S603 - our own CLI
            [
                IIT,
                "dashboard",
                "--node",
                self.address,
                "--listen",
                f"127.0.0.1:{self.web_port}",
                "--clock",
                "log",
            ],
            env={**_env(), "IIT_DASHBOARD_TOKEN": token or TOKENS["viewer"]},
            stdout=subprocess.DEVNULL,
            stderr=(self.tmp_path / "dashboard.log").open("a"),
            text=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.url + "api/status", timeout=2).read()  # noqa: S310 - loopback http
                return
            except OSError:
                if time.monotonic() > deadline or self.dashboard.poll() is not None:
                    raise RuntimeError((self.tmp_path / "dashboard.log").read_text()) from None
                time.sleep(0.2)

    def close(self) -> None:
        self.channel.close()
        for process in (self.dashboard, self.node):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path)
    try:
        running.start_node()
        running.start_dashboard()
        yield running
    finally:
        running.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        why = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("IIT_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"{why} (IIT_REQUIRE_CHROMIUM=1)")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(error.stack or str(error)))
    opened.on("crash", lambda _: errors.append("the page crashed"))
    try:
        yield opened
    finally:
        with contextlib.suppress(Exception):  # the page as the test left it, to look at
            screenshot(opened, f"last-{request.node.name}")
        context.close()
    assert errors == [], errors  # no script error on the page during the test


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

"""SPEC §7, clear start-up: `iit serve` as a user runs it, refusing each thing it cannot
use with one line naming what and where, exit 2, no traceback; a port already in use is
refused (gRPC's SO_REUSEPORT is off), whoever holds it. And `iit audit` interrupted by
Ctrl-C exits 130, not 1 (the code for "violation found")."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.cli import main
from adapters.store.contract import Request
from adapters.store.node import Node
from domain import commands as cmd
from domain.params import default_params
from tests.grpc.test_cli import IIT, free_port, wait_ready
from tests.support import DEFAULT_COMPONENTS, DEFAULT_PRICES, USDC

T0 = 1_700_000_000


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("IIT_")}


def _serve(*args: str) -> list[str]:
    """`iit serve` on a simulated clock, on a free port unless ``args`` name one."""
    listen = [] if "--listen" in args else ["--listen", "127.0.0.1:0"]
    return [IIT, "serve", "--clock", "simulated", "--start", str(T0), *listen, *args]


def _check(code: int, stderr: str, fragments: tuple[str, ...]) -> str:
    assert code == 2, (code, stderr)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def refused(args: list[str], *fragments: str) -> str:
    """`iit serve args` (run in this process, as the CLI runs it) exits 2 with one line on
    stderr holding every fragment, and no traceback."""
    assert args[0] == IIT
    result = CliRunner().invoke(main, args[1:], env={k: None for k in os.environ if k.startswith("IIT_")})
    assert isinstance(result.exception, SystemExit), result.exception
    return _check(result.exit_code, result.stderr, fragments)


def refused_in_a_process(args: list[str], *fragments: str, timeout_s: float = 60) -> str:
    """``refused``, in a process of its own (where a failure to refuse would serve on)."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, env=_env(), check=False)  # noqa: S603
    return _check(done.returncode, done.stderr, fragments)


def test_a_second_node_on_the_same_port_is_refused(tmp_path):
    port = free_port()
    first = subprocess.Popen(  # noqa: S603
        _serve("--store", f"sqlite:///{tmp_path}/a.db", "--listen", f"127.0.0.1:{port}"),
        env=_env(),
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"127.0.0.1:{port}", timeout_s=90)  # generous: start-up is slow on a busy machine
        refused_in_a_process(
            _serve("--store", f"sqlite:///{tmp_path}/b.db", "--listen", f"127.0.0.1:{port}"),
            f"--listen 127.0.0.1:{port}",
            "cannot listen",
        )
        assert first.poll() is None  # the first node serves on
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)


def test_a_port_held_by_another_program_is_refused(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        refused(
            _serve("--store", f"sqlite:///{tmp_path}/a.db", "--listen", f"127.0.0.1:{port}"),
            f"--listen 127.0.0.1:{port}",
        )
        address = f"127.0.0.1:{port}"
        refused(
            _serve(
                "--store",
                f"sqlite:///{tmp_path}/a.db",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                address,
            ),
            f"--metrics-listen {address}",
        )


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("postgresql://nobody@127.0.0.1:1/x", "--store postgresql://nobody@127.0.0.1:1/x"),
        ("postgresql://nobody:secret@127.0.0.1:1/x", "nobody:***@127.0.0.1:1"),
        ("sqlite:////proc/x/y.db", "/proc/x"),
        ("sqlite:////proc/iit.db", "--store sqlite:////proc/iit.db: cannot open the store"),  # not writable
        ("mysql://x/y", "unknown store URL scheme"),
    ],
)
def test_a_store_that_cannot_be_opened_is_one_line(tmp_path, url, fragment):
    line = refused(_serve("--store", url, "--listen", "127.0.0.1:0"), fragment)
    assert "secret" not in line


def test_an_unreachable_postgresql_gives_up_after_its_connect_timeout(tmp_path):
    # A documentation address (TEST-NET-1) that nothing answers: without a connect timeout
    # this waited 30 s in silence, then printed 71 lines.
    started = time.monotonic()
    refused(
        _serve("--store", "postgresql://u@192.0.2.1:5432/db?connect_timeout=2", "--listen", "127.0.0.1:0"),
        "--store postgresql://u@192.0.2.1:5432/db",
    )
    assert time.monotonic() - started < 60  # generous: two seconds of timeout, retries, start-up


def test_a_directory_given_as_the_sqlite_file_is_one_line(tmp_path):
    (tmp_path / "store.db").mkdir()
    refused(
        _serve("--store", f"sqlite:///{tmp_path}/store.db"), f"{tmp_path}/store.db", "cannot open the store"
    )


def test_a_missing_sqlite_directory_is_refused_not_created(tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    refused(_serve("--store", f"sqlite:///{missing}/x.db", "--listen", "127.0.0.1:0"), str(missing))
    assert not (tmp_path / "no").exists()


def test_unusable_tls_and_auth_files_are_one_line(tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    missing = tmp_path / "missing.pem"
    store = f"sqlite:///{tmp_path}/a.db"
    refused(
        _serve("--store", store, "--tls-cert", str(missing), "--tls-key", str(garbage)),
        "--tls-cert",
        "missing",
    )
    refused(_serve("--store", store, "--tls-cert", str(garbage), "--tls-key", str(garbage)), "not a PEM file")
    bad_auth = tmp_path / "auth.toml"
    bad_auth.write_text("[[tokens]\n")
    refused(_serve("--store", store, "--auth-file", str(bad_auth)), str(bad_auth))
    refused(_serve("--store", store, "--auth-file", str(missing)), str(missing))
    treasury = tmp_path / "treasury.toml"
    treasury.write_text(
        '[[tokens]]\ntoken = "treasury-token-000001"\nrole = "holder"\nholder_id = "treasury"\n'
    )
    refused(_serve("--store", store, "--auth-file", str(treasury)), "reserved")
    assert not Path(f"{tmp_path}/a.db").exists()  # nothing was opened


def test_a_start_beyond_the_time_limit_is_one_line(tmp_path):
    refused(
        [
            IIT,
            "serve",
            "--listen",
            "127.0.0.1:0",  # not the default port: a node running on this machine holds it
            "--store",
            f"sqlite:///{tmp_path}/a.db",
            "--clock",
            "simulated",
            "--start",
            str(2**62),
        ],
        "--start",
    )


def _big_store(url: str, mints: int = 1_000) -> None:
    node = Node.open(url)
    node.execute("P", cmd.LaunchProduct("P", DEFAULT_COMPONENTS, default_params()), "launch", T0)
    for symbol, price in DEFAULT_PRICES.items():
        node.execute("P", cmd.ReportPrice(symbol, price, T0, "r1"), f"px-{symbol}", T0)
    for start in range(0, mints, 250):
        node.execute_batch(
            [
                Request("P", cmd.Mint("alice", 10 * USDC, 0), f"m-{i}", T0 + 1)
                for i in range(start, start + 250)
            ]
        )
    node.close()


def test_ctrl_c_during_an_audit_exits_130(tmp_path):
    url = f"sqlite:///{tmp_path}/big.db"
    _big_store(url)
    audit = subprocess.Popen(  # noqa: S603
        [IIT, "audit", "--store", url, "--processes", "1", "--progress-every", "1"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Progress on every record: unread, stderr's pipe fills and the audit waits on it, so
    # the interrupt surely lands while it runs.
    assert audit.stderr is not None
    assert "records read" in audit.stderr.readline()
    time.sleep(0.5)
    audit.send_signal(signal.SIGINT)
    _, err = audit.communicate(timeout=60)
    assert audit.returncode == 130, err[-500:]
    assert "audit: interrupted" in err
    assert "Traceback" not in err

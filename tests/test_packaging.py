"""The package as a user installs it: `uv build` makes a wheel that carries the generated
gRPC stubs (made at build time by hatch_build.py, never committed), and `iit serve` from
that wheel, installed in a fresh virtual environment outside the source tree, answers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
STUBS = "adapters/grpc/generated/iit/v1/"


def uv() -> list[str]:
    """The uv that made this environment (`make setup` installs it for python3)."""
    for python in (sys.executable, shutil.which("python3")):
        probe = [python or "", "-m", "uv", "--version"]
        if python and subprocess.run(probe, capture_output=True, check=False).returncode == 0:  # noqa: S603
            return [python, "-m", "uv"]
    found = shutil.which("uv")
    assert found, "uv is missing: `make setup` installs it"
    return [found]


def run(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_wheel_carries_the_stubs_and_serves_from_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(*uv(), "build", "--wheel", "--out-dir", str(dist))
    (wheel,) = dist.glob("iit_node-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("token_pb2.py", "token_pb2_grpc.py", "common_pb2.py", "audit_pb2_grpc.py"):
        assert STUBS + module in names, sorted(n for n in names if "generated" in n)
    assert "adapters/grpc/generated/iit_v1.binpb" in names
    # Never committed: git ignores the folder the stubs are generated into.
    tracked = run("git", "ls-files", "adapters/grpc/generated")
    assert tracked == ""

    venv = tmp_path / "venv"
    run(*uv(), "venv", "--quiet", "--python", str(Path(sys.executable).resolve()), str(venv))
    requirements = tmp_path / "requirements.txt"
    run(
        *uv(),
        "export",
        "--frozen",
        "--no-dev",
        "--no-emit-project",
        "--no-hashes",
        "--quiet",
        "-o",
        str(requirements),
    )
    run(
        *uv(),
        "pip",
        "install",
        "--quiet",
        "--python",
        str(venv / "bin" / "python"),
        "-r",
        str(requirements),
        str(wheel),
    )
    iit = venv / "bin" / "iit"
    assert run(str(iit), "--version", cwd=tmp_path).startswith("iit 0.")

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IIT_") and k != "PYTHONPATH"}
    process = subprocess.Popen(  # noqa: S603
        [str(iit), "serve", "--store", f"sqlite:///{tmp_path}/node.db", "--listen", f"127.0.0.1:{port}",
         "--log-format", "json"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=60)
        from adapters.grpc.client import Client  # noqa: PLC0415
        from adapters.grpc.stubs import admin_pb2, common_pb2, token_pb2  # noqa: PLC0415

        client = Client(channel)
        client.admin.LaunchProduct(
            admin_pb2.LaunchProductRequest(
                product_id="W",
                components=[common_pb2.Component(symbol="BTC", quantity=str(10**18))],
                request_id="w",
            )
        )
        assert client.token.GetProduct(token_pb2.GetProductRequest(product_id="W")).product_id == "W"
        channel.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    stderr = process.stderr.read() if process.stderr else ""
    assert "make proto" not in stderr
    # The installed package served, not this source tree.
    installed = run(
        str(venv / "bin" / "python"), "-c", "import adapters; print(adapters.__file__)", cwd=tmp_path
    )
    assert str(venv) in installed

"""TLS and mTLS with certificates made by openssl, and the auth file / variable formats."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import pytest

from adapters.grpc import auth
from adapters.grpc.auth import AuthConfigError, Caller, Role
from adapters.grpc.client import Client, channel
from adapters.grpc.server import TlsFiles
from adapters.grpc.stubs import token_pb2
from tests.grpc.conftest import ENTRIES, TOKENS, start

OPENSSL = shutil.which("openssl")


def _openssl(*args: str, cwd: Path) -> None:
    assert OPENSSL
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)  # noqa: S603


def _certificates(directory: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it."""
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=iit test CA",
        cwd=directory,
    )
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
            cwd=directory,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.pem",
            "-days",
            "2",
            "-extfile",
            "san.cnf",
            cwd=directory,
        )
    return directory


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    if OPENSSL is None:
        pytest.skip("openssl is needed to make test certificates")
    return _certificates(tmp_path_factory.mktemp("certs"))


def _get_product(client: Client) -> None:
    client.token.GetProduct(token_pb2.GetProductRequest(product_id="P"), metadata=client.md, timeout=10)


def test_tls_serves_a_client_that_trusts_the_ca_and_only_over_tls(tmp_path, certs):
    node = start(tmp_path, tls=TlsFiles(certs / "server.pem", certs / "server.key"))
    try:
        secure = Client(channel(node.address, ca=certs / "ca.pem"), TOKENS["admin"])
        with pytest.raises(grpc.RpcError) as missing:
            _get_product(secure)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND  # reached the servicer over TLS
        plain = Client(grpc.insecure_channel(node.address), TOKENS["admin"])
        with pytest.raises(grpc.RpcError) as refused:
            _get_product(plain)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        secure.close()
        plain.close()
    finally:
        node.close()


def test_mtls_requires_a_client_certificate_signed_by_the_client_ca(tmp_path, certs):
    node = start(tmp_path, tls=TlsFiles(certs / "server.pem", certs / "server.key", certs / "ca.pem"))
    try:
        anonymous = Client(channel(node.address, ca=certs / "ca.pem"), TOKENS["admin"])
        with pytest.raises(grpc.RpcError) as refused:
            _get_product(anonymous)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        mutual = Client(
            channel(node.address, ca=certs / "ca.pem", cert=certs / "client.pem", key=certs / "client.key"),
            TOKENS["admin"],
        )
        with pytest.raises(grpc.RpcError) as missing:
            _get_product(mutual)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND  # through: the product does not exist
        anonymous.close()
        mutual.close()
    finally:
        node.close()


def test_an_auth_file_binds_each_token_to_its_role_and_id(tmp_path):
    path = tmp_path / "auth.toml"
    path.write_text(
        '[[tokens]]\ntoken = "admin-secret-0123456789"\nrole = "admin"\n\n'
        '[[tokens]]\ntoken = "oracle-secret-012345678"\nrole = "oracle"\nreporter_id = "oracle-a"\n\n'
        '[[tokens]]\ntoken = "alice-secret-0123456789"\nrole = "holder"\nholder_id = "alice"\n'
    )
    authenticator = auth.load(str(path), "holder:bob=bob-secret-01234567890,viewer=viewer-secret-0123456")
    assert not authenticator.development_mode
    who = lambda token: authenticator.authenticate([("authorization", f"Bearer {token}")])  # noqa: E731
    assert who("admin-secret-0123456789") == Caller(Role.ADMIN)
    assert who("oracle-secret-012345678") == Caller(Role.ORACLE, "oracle-a")
    assert who("alice-secret-0123456789") == Caller(Role.HOLDER, "alice")
    assert who("bob-secret-01234567890") == Caller(Role.HOLDER, "bob")
    assert who("viewer-secret-0123456") == Caller(Role.VIEWER)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('[[tokens]]\ntoken = "x-0123456789abcdef"\nrole = "root"\n', "unknown role 'root'"),
        ('[[tokens]]\ntoken = "x-0123456789abcdef"\nrole = "holder"\n', "needs its holder_id"),
        ('[[tokens]]\ntoken = "x-0123456789abcdef"\nrole = "oracle"\n', "needs its reporter_id"),
        ('[[tokens]]\ntoken = "short"\nrole = "admin"\n', "at least 16 characters"),
        ('[[tokens]]\nrole = "admin"\n', "needs token"),
        (
            '[[tokens]]\ntoken = "x-0123456789abcdef"\nrole = "viewer"\nholder_id = "a"\n',
            "not bound to an id",
        ),
        ("tokens = 3\n", "expected [[tokens]]"),
        ("[[tokens]\n", "auth file"),
    ],
)
def test_a_bad_auth_file_is_refused_with_the_reason(tmp_path, text, why):
    path = tmp_path / "auth.toml"
    path.write_text(text)
    with pytest.raises(AuthConfigError, match=why.replace("[", r"\[").replace("(", r"\(")):
        auth.load(str(path), None)


def test_one_token_for_two_callers_is_refused():
    with pytest.raises(AuthConfigError, match="both"):
        auth.load(None, "admin=same-token-0123456789,holder:bob=same-token-0123456789")


def test_the_env_format_needs_role_and_token():
    with pytest.raises(AuthConfigError, match="role\\[:id\\]=token"):
        auth.parse_env("admin")
    assert auth.load(None, None).development_mode
    assert len(ENTRIES) == 6

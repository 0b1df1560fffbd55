"""Who is calling: bearer tokens in the ``authorization`` metadata, each bound to a role.

Roles (SPEC §5): ``admin``; ``oracle``, bound to one ``reporter_id``; ``holder``, bound to
one ``holder_id`` and acting only on it; ``viewer``, read-only (GetProduct, GetNavHistory,
StreamEvents, CheckInvariants: what a dashboard shows), refused every RPC that writes and
every holder's balance. Tokens come from a TOML file (``--auth-file`` /
``IIT_AUTH_FILE``) and/or the ``IIT_AUTH_TOKENS`` variable::

    # auth.toml
    [[tokens]]
    token = "admin-secret"
    role = "admin"

    [[tokens]]
    token = "oracle-a-secret"
    role = "oracle"
    reporter_id = "oracle-a"

    [[tokens]]
    token = "alice-secret"
    role = "holder"
    holder_id = "alice"

    [[tokens]]
    token = "dashboard-secret"
    role = "viewer"

    IIT_AUTH_TOKENS="admin=admin-secret,oracle:oracle-a=oracle-a-secret,holder:alice=alice-secret,viewer=dashboard-secret"

With no token configured at all the node runs in development mode: every caller is
trusted with every role, and the server binds loopback only.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path

import grpc
from attrs import frozen

from adapters.grpc.errors import PermissionDenied, Unauthenticated
from domain.validation import RESERVED_HOLDER_PREFIX, RESERVED_HOLDERS, shown

AUTH_ENV = "IIT_AUTH_TOKENS"
TOKEN_MIN_LEN = 16


class Role(StrEnum):
    ADMIN = "admin"
    ORACLE = "oracle"
    HOLDER = "holder"
    VIEWER = "viewer"


class AuthConfigError(ValueError):
    """The auth file or variable cannot be used."""


@frozen
class Caller:
    """An authenticated caller. ``role`` is None in development mode (trusted with all)."""

    role: Role | None
    subject: str = ""  # the reporter_id of an oracle, the holder_id of a holder

    @property
    def name(self) -> str:
        if self.role is None:
            return "dev"
        return f"{self.role}:{self.subject}" if self.subject else str(self.role)

    def require_role(self, allowed: frozenset[Role], rpc: str) -> None:
        if self.role is not None and self.role not in allowed:
            roles = " or ".join(sorted(allowed))
            raise PermissionDenied(f"{rpc} needs the {roles} role; the caller is {self.name}")

    def require_holder(self, holder_id: str, rpc: str) -> None:
        """A holder acts only on its own holder id (the admin may read any balance)."""
        if self.role is Role.HOLDER and holder_id != self.subject:
            raise PermissionDenied(
                f"{rpc}: the caller's token is bound to holder {self.subject!r}, not {shown(holder_id)}"
            )

    def require_reporter(self, reporter_id: str, rpc: str) -> None:
        if self.role is Role.ORACLE and reporter_id != self.subject:
            raise PermissionDenied(
                f"{rpc}: the caller's token is bound to reporter {self.subject!r}, not {shown(reporter_id)}"
            )


DEV_CALLER = Caller(None)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@frozen
class Authenticator:
    """Token digests to callers; an empty table means development mode."""

    callers: Mapping[str, Caller]

    @property
    def development_mode(self) -> bool:
        return not self.callers

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]]) -> Caller:
        if self.development_mode:
            return DEV_CALLER
        values = [v for k, v in metadata if k.lower() == "authorization"]
        if not values:
            raise Unauthenticated("no credentials: send metadata 'authorization: Bearer <token>'")
        value = values[0] if isinstance(values[0], str) else values[0].decode(errors="replace")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the authorization metadata must be 'Bearer <token>'")
        # Looked up by digest: the table never holds a token, and lookup time does not
        # depend on how much of a guess matches.
        caller = self.callers.get(_digest(token.strip()))
        if caller is None:
            raise Unauthenticated("unknown bearer token")
        return caller

    def context_caller(self, context: grpc.ServicerContext) -> Caller:
        return self.authenticate(context.invocation_metadata())


def entry(role_text: str, subject: str, token: str, where: str = "token") -> tuple[str, Caller]:
    """One credential: the token's digest and the caller it stands for, checked."""
    try:
        role = Role(role_text)
    except ValueError:
        raise AuthConfigError(
            f"{where}: unknown role {role_text!r} (admin, oracle, holder or viewer)"
        ) from None
    if role in (Role.ADMIN, Role.VIEWER) and subject:
        raise AuthConfigError(f"{where}: an {role} token is not bound to an id")
    if role in (Role.ORACLE, Role.HOLDER) and not subject:
        field = "reporter_id" if role is Role.ORACLE else "holder_id"
        raise AuthConfigError(f"{where}: a {role} token needs its {field}")
    if role is Role.HOLDER and (subject in RESERVED_HOLDERS or subject.startswith(RESERVED_HOLDER_PREFIX)):
        raise AuthConfigError(
            f"{where}: holder_id {subject!r} is reserved (the treasury and the locked minimum supply "
            "have no credential; the treasury's tokens move only by AdminService.ClaimFees)"
        )
    if len(token) < TOKEN_MIN_LEN:
        raise AuthConfigError(f"{where}: a token needs at least {TOKEN_MIN_LEN} characters")
    return _digest(token), Caller(role, subject)


def load_file(path: Path) -> list[tuple[str, Caller]]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise AuthConfigError(f"auth file {path}: {error}") from error
    entries = data.get("tokens", [])
    if not isinstance(entries, list):
        raise AuthConfigError(f"auth file {path}: expected [[tokens]] tables")
    found = []
    for index, item in enumerate(entries):
        where = f"auth file {path}, tokens[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("token"), str):
            raise AuthConfigError(f'{where}: needs token = "..." and role = "..."')
        subject = str(item.get("reporter_id") or item.get("holder_id") or "")
        found.append(entry(str(item.get("role", "")), subject, item["token"], where))
    return found


def parse_env(value: str) -> list[tuple[str, Caller]]:
    """``role[:id]=token`` entries separated by commas."""
    found = []
    for index, item in enumerate(part.strip() for part in value.split(",")):
        if not item:
            continue
        who, sep, token = item.partition("=")
        if not sep:
            raise AuthConfigError(f"{AUTH_ENV} entry {index}: expected role[:id]=token")
        role_text, _, subject = who.partition(":")
        found.append(entry(role_text.strip(), subject.strip(), token.strip(), f"{AUTH_ENV} entry {index}"))
    return found


def build(entries: Sequence[tuple[str, Caller]]) -> Authenticator:
    table: dict[str, Caller] = {}
    for digest, caller in entries:
        if digest in table and table[digest] != caller:
            raise AuthConfigError(f"one token is configured for both {table[digest].name} and {caller.name}")
        table[digest] = caller
    return Authenticator(table)


def load(auth_file: str | None, env_value: str | None) -> Authenticator:
    entries: list[tuple[str, Caller]] = []
    if auth_file:
        entries += load_file(Path(auth_file))
    if env_value:
        entries += parse_env(env_value)
    return build(entries)

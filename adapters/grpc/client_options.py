"""The options every gRPC client command of ``iit`` shares to reach a node over TLS/mTLS
(``iit events``, ``iit nav``, ``iit dashboard``): one definition, one set of variables."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])


def client_tls_options(command: F) -> F:
    """``--tls-ca``, ``--tls-cert`` and ``--tls-key`` (``IIT_TLS_CA``, ``IIT_TLS_CLIENT_CERT``,
    ``IIT_TLS_CLIENT_KEY``): the node's CA makes the channel TLS; cert and key add mTLS."""
    for option in reversed(
        (
            click.option(
                "--tls-ca",
                envvar="IIT_TLS_CA",
                default=None,
                show_envvar=True,
                help="CA (PEM) of the node: use TLS.",
            ),
            click.option(
                "--tls-cert",
                envvar="IIT_TLS_CLIENT_CERT",
                default=None,
                show_envvar=True,
                help="Client certificate (PEM) for mTLS.",
            ),
            click.option(
                "--tls-key",
                envvar="IIT_TLS_CLIENT_KEY",
                default=None,
                show_envvar=True,
                help="Client key (PEM) for mTLS.",
            ),
        )
    ):
        command = option(command)
    return command

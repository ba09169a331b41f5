"""The wechaty channel's parsing rules, account config, and TLS against the fake service."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
from pathlib import Path

import pytest

from bot.app import App, AppSettings
from bot.channels.base import ChannelError
from bot.channels.wechaty import (
    WechatyChannel,
    WechatyOptions,
    message_type,
    parse_endpoint,
    parse_payload,
    uses_tls,
)
from bot.cli import main
from bot.clock import FakeClock
from bot.config import ConfigError
from bot.events import AccountStatus, MessageType
from tests.fakes.puppet_service import FakePuppetService
from tests.harness import copy_project


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (0, MessageType.UNKNOWN),
        (1, MessageType.FILE),
        (2, MessageType.VOICE),
        (3, MessageType.CARD),
        (4, MessageType.UNKNOWN),  # chat history
        (5, MessageType.EMOTICON),
        (6, MessageType.IMAGE),
        (7, MessageType.TEXT),
        (8, MessageType.UNKNOWN),  # location
        (9, MessageType.MINI_PROGRAM),
        (14, MessageType.LINK),
        (15, MessageType.VIDEO),
        (16, MessageType.UNKNOWN),  # post: newer than the proto
        (999, MessageType.UNKNOWN),
    ],
)
def test_wire_message_types_use_the_typescript_numbering(wire: int, expected: MessageType) -> None:
    assert message_type(wire) is expected


def test_parse_endpoint() -> None:
    assert parse_endpoint("127.0.0.1:8788") == ("127.0.0.1", 8788)
    assert parse_endpoint(" gateway.example.com:443 ") == ("gateway.example.com", 443)
    assert parse_endpoint("[::1]:9000") == ("::1", 9000)
    for bad in ["", "host", "host:", ":80", "host:http", "host:70000", "[::1]"]:
        with pytest.raises(ValueError, match="host:port"):
            parse_endpoint(bad)


def test_tls_unless_the_token_is_insecure() -> None:
    assert uses_tls("puppet_padlocal_abc", tls=True)
    assert not uses_tls("insecure_abc", tls=True)
    assert not uses_tls("puppet_padlocal_abc", tls=False)


def test_parse_payload_is_tolerant() -> None:
    assert parse_payload('{"messageId": "m1"}') == {"messageId": "m1"}
    assert parse_payload("") == {}
    assert parse_payload("   ") == {}
    assert parse_payload("not json") is None
    assert parse_payload("[1, 2]") is None
    assert parse_payload('"text"') is None


def test_a_token_is_required() -> None:
    with pytest.raises(ValueError, match="token"):
        WechatyChannel("a", "127.0.0.1:1", "", FakeClock())


def _write_account(base: Path, account: str) -> None:
    with (base / "config.toml").open("a", encoding="utf-8") as f:
        f.write("\n[[accounts]]\n" + account)


def test_check_names_a_wechaty_account_without_endpoint_or_token_env(
    tmp_path: Path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    copy_project(tmp_path)
    _write_account(tmp_path, 'id = "a"\nkind = "wechaty"\ntoken_env = "T"\n')
    _write_account(tmp_path, 'id = "b"\nkind = "wechaty"\nendpoint = "gw:8788"\n')
    _write_account(tmp_path, 'id = "c"\nendpoint = "gw"\ntoken_env = "T"\n')
    assert main(["check", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    for account, says in (("a", "needs an endpoint"), ("b", "needs token_env"), ("c", "host:port")):
        # By file, line and the account's id (issue 13: never `accounts[0]`).
        (line,) = [x for x in lines if f"account '{account}': " in x]
        assert re.match(r"error: .*config\.toml:\d+: ", line) and says in line, line


def test_a_missing_token_variable_is_a_clear_error(tmp_path: Path) -> None:
    copy_project(tmp_path)
    _write_account(
        tmp_path, 'id = "a"\nendpoint = "127.0.0.1:8788"\ntoken_env = "MAMABOT_NO_SUCH_TOKEN"\n'
    )
    os.environ.pop("MAMABOT_NO_SUCH_TOKEN", None)
    with pytest.raises(ConfigError) as caught:
        App.build(AppSettings(base_dir=tmp_path, clock=FakeClock()))
    assert "accounts[0].token_env" in str(caught.value)
    assert "MAMABOT_NO_SUCH_TOKEN is not set" in str(caught.value)


def test_disabled_accounts_are_not_connected(tmp_path: Path) -> None:
    copy_project(tmp_path)
    _write_account(
        tmp_path, 'id = "a"\nenabled = false\nendpoint = "127.0.0.1:8788"\ntoken_env = "X"\n'
    )
    app = App.build(AppSettings(base_dir=tmp_path, clock=FakeClock()))
    assert list(app.channels) == ["sim"]  # only the simulator, as with no account


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the name gateways use, made with the openssl tool."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=wechaty-puppet-service",
            "-addext",
            "subjectAltName=DNS:wechaty-puppet-service",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_with_a_custom_ca_and_server_name(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ssl.load_cert_chain(cert, key)
    server_ssl.set_alpn_protocols(["h2"])
    async with FakePuppetService(token="puppet_service_secret") as fake:
        await fake.close()  # restart it with TLS
        await fake.start(ssl_context=server_ssl)
        fake.contact("b", "小美")
        channel = WechatyChannel(
            "brand",
            fake.endpoint,
            fake.token,
            FakeClock(),
            tls=True,
            tls_ca_file=str(cert),
            tls_server_name="wechaty-puppet-service",
            options=WechatyOptions(reconnect_base_seconds=0),
        )
        await channel.start()
        try:
            await fake.wait_for_streams(1)
            fake.login()
            events = aiter(channel.events())
            login = await anext(events)
            assert isinstance(login, AccountStatus) and channel.self_id == "bot"
            info = await channel.contact_info("b")
            assert info is not None and info.name == "小美"
        finally:
            await channel.close()

        untrusted = WechatyChannel("x", fake.endpoint, fake.token, FakeClock(), tls=True)
        untrusted._stub = untrusted._make_stub()
        with pytest.raises(ChannelError) as caught:
            await untrusted.contact_info("b")  # the default trust store does not know it
        assert caught.value.retryable
        await untrusted.close()

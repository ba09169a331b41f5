"""Secrets stay out of the log, even at DEBUG: a live `mamabot run` against the fake puppet
gateway over loopback, the way the README tells ops to debug it."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.fakes.puppet_service import FakePuppetService
from tests.harness import copy_project
from tests.wechaty_harness import account_config, spawn_run


async def live_run_log(tmp_path: Path, *options: str) -> tuple[str, FakePuppetService]:
    """Run `mamabot --log-level DEBUG run`, have it answer one question, stop it; its log."""
    async with FakePuppetService() as fake:
        fake.contact("b", "小美")
        fake.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        fake.auto_login = True
        base = copy_project(tmp_path)
        account_config(base, fake.endpoint)
        proc = await spawn_run(base, fake, before=("--log-level", "DEBUG"), after=options)
        try:
            await fake.wait_for_streams(1, timeout=60)
            fake.message("b", "宝宝湿疹怎么办", room="R1")
            await fake.wait_for_call("MessageSendText", timeout=60)
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = await asyncio.wait_for(proc.communicate(), 60)
        log = err.decode()
        assert proc.returncode == 0, log
        assert len(fake.sent) == 1  # a real run: it connected, logged in and answered
        return log, fake


async def test_a_debug_log_of_a_live_run_holds_no_gateway_token(tmp_path: Path) -> None:
    log, fake = await live_run_log(tmp_path)
    assert " DEBUG mamabot: third-party loggers" in log, log  # DEBUG was on
    assert fake.token not in log
    assert "authorization" not in log.lower()
    assert " hpack" not in log and " h2." not in log  # third-party protocol chatter stays out


async def test_a_protocol_logger_asked_for_by_name_is_logged(tmp_path: Path) -> None:
    # Ops debugging the gateway protocol asked for it: then, and only then, it is there.
    log, _fake = await live_run_log(tmp_path, "--debug-logger", "hpack")
    assert " DEBUG hpack" in log
    assert " DEBUG h2." not in log  # only the one asked for

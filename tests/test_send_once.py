"""Once: a send whose outcome is unknown is confirmed by the gateway's echo, not repeated.

Over the fake gateway (real gRPC on loopback), faults strike while the gateway holds the
send: the request has arrived, the answer has not gone back. A connection dropped there,
or a kill -9 of `mamabot run` there, must end with the message delivered exactly once:
not twice (the echo says it went out), not never (no echo within the grace: sent again).
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpclib.const
import pytest

from bot.channels.base import ChannelError, OutcomeUnknown
from bot.channels.wechaty import WechatyChannel
from bot.clock import FakeClock
from bot.events import AccountStatus
from storage.models import OutboxMessage
from tests.fakes.puppet_service import FakePuppetService
from tests.harness import START, copy_project
from tests.wechaty_harness import WechatyBot, account_config, is_echo, spawn_run

QUESTION = "宝宝湿疹怎么办"


def world(fake: FakePuppetService) -> None:
    fake.contact("o", "群主")
    fake.contact("b", "小美")
    fake.room("R1", "孕妈交流群", owner="o", members=["o", "b"])


def sends(fake: FakePuppetService) -> int:
    """MessageSendText calls that reached the gateway."""
    return sum(1 for name, _ in fake.calls if name == "MessageSendText")


async def until_echo(bot: WechatyBot) -> None:
    """Read events until the gateway's echo of a send has been read by the channel."""
    while not is_echo(await bot.next_event(echoes=True)):
        pass


async def ask_and_hold(bot: WechatyBot, fake: FakePuppetService) -> asyncio.Task[object]:
    """b asks; the answer's send reaches the gateway, which holds it. Returns the pump."""
    fake.message("b", QUESTION, room="R1")
    await bot.app.receive(await bot.next_event())
    await bot.app.dispatcher.join()
    pumping: asyncio.Task[object] = asyncio.create_task(bot.app.outbox.pump())
    await fake.wait_for_call("MessageSendText")
    return pumping


@pytest.mark.parametrize("gateway_sends", [True, False], ids=["gateway-sent", "gateway-failed"])
async def test_a_connection_dropped_mid_send_delivers_the_answer_once(
    tmp_path: Path, gateway_sends: bool
) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        world(fake)
        fake.login()
        await bot.deliver()
        gate = fake.hold("MessageSendText")
        if not gateway_sends:  # the gateway lost it too: nothing went out, no echo comes
            fake.fail_next("MessageSendText", grpclib.const.Status.INTERNAL)
        pumping = await ask_and_hold(bot, fake)
        fake.abort_connections()  # mid-send: the request is in the gateway's hands
        await pumping
        row = await OutboxMessage.get()
        assert row.status == "sending" and "echo" in (row.last_error or "")
        await fake.wait_for_streams(2)  # the channel is back on a new connection
        gate.set()  # the gateway finishes what it was doing
        if gateway_sends:
            await until_echo(bot)
            await bot.app.settle()
            assert (await OutboxMessage.get()).status == "sent"  # on its echo, not later
        await bot.tick("2m")  # past the grace period
        assert len(fake.sent) == 1 and QUESTION[2:4] in fake.sent[0]["text"]
        assert sends(fake) == (1 if gateway_sends else 2)
        assert (await OutboxMessage.get()).status == "sent"
        assert [a["action"] for a in bot.actions if a["action"] == "say"] == ["say"]


async def test_an_echo_of_an_earlier_identical_send_confirms_nothing(tmp_path: Path) -> None:
    """The same text to the same chat, once confirmed and once unsure: the first send's
    echo (known by its message id) must not pass for the second one's."""
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        world(fake)
        fake.login()
        await bot.deliver()
        outbox = bot.app.outbox
        await outbox.say(
            account_id="brand", room_id=None, contact_id="b", text="收到", dedupe_key="k1"
        )
        await bot.app.settle()
        assert len(fake.sent) == 1  # confirmed by the gateway's answer; its echo is queued
        gate = fake.hold("MessageSendText")
        fake.fail_next("MessageSendText", grpclib.const.Status.INTERNAL)  # never goes out
        await outbox.say(
            account_id="brand", room_id=None, contact_id="b", text="收到", dedupe_key="k2"
        )
        pumping = asyncio.create_task(outbox.pump())
        await fake.wait_for_call("MessageSendText", 2)
        fake.abort_connections()
        await pumping
        await fake.wait_for_streams(2)
        gate.set()
        await until_echo(bot)  # the first send's echo, read after the second became unsure
        await bot.app.settle()
        assert (await OutboxMessage.get(dedupe_key="k2")).status == "sending"
        await bot.tick("2m")
        assert [s["text"] for s in fake.sent] == ["收到", "收到"]  # k2 delivered, once


async def test_a_refused_connection_sent_nothing_and_stays_retryable() -> None:
    with socket_closed() as port:
        channel = WechatyChannel("brand", f"127.0.0.1:{port}", "insecure_x", FakeClock(START))
        channel._stub = channel._make_stub()
        try:
            with pytest.raises(ChannelError) as caught:
                await channel.say(room_id="R1", contact_id=None, text="hi", dedupe_key="k")
        finally:
            await channel.close()
    assert caught.value.retryable and not isinstance(caught.value, OutcomeUnknown)


class socket_closed:
    """A loopback port nobody listens on."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        return None


def lease_of_the_send(db_file: Path) -> datetime:
    """When the killed instance's lease on its send ends (read straight from its file)."""
    with sqlite3.connect(db_file) as conn:
        ((status, until),) = conn.execute(
            "SELECT status, lease_until FROM outbox_message WHERE action = 'say'"
        ).fetchall()
    assert status == "sending"
    when = datetime.fromisoformat(until)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@pytest.mark.parametrize("gateway_sends", [True, False], ids=["gateway-sent", "gateway-failed"])
async def test_kill_9_mid_send_then_restart_delivers_the_answer_once(
    tmp_path: Path, gateway_sends: bool
) -> None:
    async with FakePuppetService() as fake:
        world(fake)
        fake.auto_login = True  # a gateway announces the login on every new stream
        gate = fake.hold("MessageSendText")
        if not gateway_sends:
            fake.fail_next("MessageSendText", grpclib.const.Status.INTERNAL)
        (tmp_path / "a").mkdir()
        base = copy_project(tmp_path / "a")
        account_config(base, fake.endpoint)
        proc = await spawn_run(base, fake, output=False)
        try:
            await fake.wait_for_streams(1, timeout=60)
            fake.message("b", QUESTION, room="R1")
            await fake.wait_for_call("MessageSendText", timeout=60)  # in the gateway's hands
        finally:
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), 60)
        assert proc.returncode == -signal.SIGKILL
        db_file = base / "data" / "mamabot.sqlite3"
        # The restart: the same database and account, on a clock past the dead lease.
        clock = FakeClock(max(START, lease_of_the_send(db_file) + timedelta(seconds=1)))
        (tmp_path / "b").mkdir()
        restarted = WechatyBot(
            tmp_path / "b", fake, clock=clock, database_url=f"sqlite://{db_file}"
        )
        async with restarted as bot:
            login = await bot.next_event()
            assert isinstance(login, AccountStatus) and login.status == "login"
            gate.set()  # the gateway finishes the dead instance's send
            if gateway_sends:
                await until_echo(bot)
            await bot.app.settle()
            assert sends(fake) == 1  # nothing resent while the echo may still come
            await bot.tick("2m")
            assert len(fake.sent) == 1 and fake.sent[0]["conversation"] == "R1"
            assert sends(fake) == (1 if gateway_sends else 2)
            assert (await OutboxMessage.get(action="say")).status == "sent"


async def test_sends_wait_for_a_logged_out_account_and_go_once_it_is_back() -> None:
    from storage.models import OutboxMessage
    from tests.harness import BotUnderTest

    async with BotUnderTest() as bot:
        bot.channel.online = False  # logged out: nothing can be sent
        done = await bot.says("b", "宝宝湿疹怎么办")
        assert [a for a in done if a["action"] == "say"] == []
        await bot.tick("3h")  # longer than every retry of a failing send
        (row,) = await OutboxMessage.all()
        assert (row.status, row.attempts) == ("pending", 0)  # waiting, nothing spent
        bot.channel.online = True  # logged in again
        bot.app.outbox.wake()
        sent = await bot.tick("1s")
        assert [a["to"] for a in sent if a["action"] == "say"] == ["b"]
        assert [r.status for r in await OutboxMessage.all()] == ["sent"]

"""End to end: the real app on the wechaty channel, over loopback gRPC to the fake service."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpclib.const
from wechaty_grpc.wechaty import puppet as pb

from bot.channels.wechaty import MENTION_SEPARATOR
from bot.cli import _run_live
from bot.clock import SystemClock
from bot.events import (
    AccountStatus,
    FriendRemoved,
    MemberJoined,
    MemberLeft,
    MessageReceived,
    MessageType,
)
from storage import privacy
from storage.models import Contact, Interaction
from tests.fakes.puppet_service import FakePuppetService
from tests.harness import copy_project
from tests.wechaty_harness import WechatyBot, account_config, spawn_run


def world(fake: FakePuppetService) -> None:
    fake.contact("o", "群主")
    fake.contact("a", "阿芳")
    fake.contact("b", "小美")
    fake.room("R1", "孕妈交流群", owner="o", members=["o", "a", "b"])


async def test_login_sets_the_bot_id_and_its_own_messages_are_ignored(tmp_path: Path) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        world(fake)
        fake.login()
        (event,) = await bot.deliver()
        assert isinstance(event, AccountStatus) and event.status == "login"
        assert bot.channel.self_id == "bot" and "bot" in bot.app.self_ids
        fake.message("bot", "宝宝湿疹怎么办", room="R1")  # the bot's own message echoed back
        await bot.deliver()
        assert fake.sent == []
        fake.message("a", "@小暖\u2005 @小美\u2005 你们好", room="R1", mentions=["bot", "b"])
        (hello,) = await bot.deliver()
        assert isinstance(hello, MessageReceived)
        assert hello.mentions == ("bot", "b") and hello.mentions_self
        assert fake.authorizations and set(fake.authorizations) == {f"Wechaty {fake.token}"}


async def test_a_keyword_question_in_a_group_gets_its_answer_with_a_real_mention(
    tmp_path: Path,
) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        world(fake)
        fake.login()
        await bot.deliver()
        fake.message("b", "宝宝湿疹怎么办", room="R1")
        (event,) = await bot.deliver()
        assert isinstance(event, MessageReceived)
        assert (event.type, event.sender_name, event.room) == (MessageType.TEXT, "小美", "R1")
        (sent,) = fake.sent
        assert sent["conversation"] == "R1" and sent["mentions"] == ["b"]
        assert sent["text"].startswith("@小美" + MENTION_SEPARATOR) and "湿疹" in sent["text"]
        assert [a["tag"] for a in bot.actions if a["action"] == "tag"] == ["关注:湿疹"]


async def test_joins_get_one_batched_welcome_that_mentions_them(tmp_path: Path) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        world(fake)
        fake.contact("c", "小红")
        fake.contact("d", "豆豆妈")
        fake.join("R1", ["c"], inviter="a", timestamp=100)
        fake.join("R1", ["d"], inviter="a", timestamp=101)
        joined = await bot.deliver(2)
        assert [e.member_name for e in joined if isinstance(e, MemberJoined)] == ["小红", "豆豆妈"]
        assert all(isinstance(e, MemberJoined) and e.inviter_id == "a" for e in joined)
        assert fake.sent == []  # the batch window is still open
        await bot.tick("31s")
        (welcome,) = fake.sent
        assert welcome["conversation"] == "R1" and welcome["mentions"] == ["c", "d"]
        assert f"@小红{MENTION_SEPARATOR}" in welcome["text"]
        assert f"@豆豆妈{MENTION_SEPARATOR}" in welcome["text"]
        assert "孕妈交流群" in welcome["text"]
        fake.leave("R1", ["d"], remover="o", timestamp=102)
        (left,) = await bot.deliver()
        assert isinstance(left, MemberLeft) and left.remover_id == "o"


async def test_a_friend_request_is_accepted_tagged_and_greeted(tmp_path: Path) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        fake.friend_request("c", "小红", "你好，我是从小红书来的")
        await bot.deliver()
        assert fake.accepted == ["c"]
        greeting, question = fake.sent
        assert greeting["conversation"] == "c" and greeting["mentions"] == []
        assert "小红书" in greeting["text"]
        assert question["conversation"] == "c" and "预产期" in question["text"]
        tags = [(a["tag"], a["source"]) for a in bot.actions if a["action"] == "tag"]
        assert ("渠道:小红书", "channel") in tags


async def test_kick_and_invite_go_through_the_outbox_to_the_service(tmp_path: Path) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        world(fake)
        fake.contact("x", "广告号")
        fake.rooms["R1"].members.append("x")
        outbox = bot.app.outbox
        await outbox.kick(
            account_id="brand", room_id="R1", contact_id="x", reason="广告", dedupe_key="k1"
        )
        await outbox.invite(account_id="brand", room_id="R1", contact_id="c", dedupe_key="i1")
        await bot.app.settle()
        assert fake.kicked == [("R1", "x")] and fake.invited == [("R1", "c")]
        info = await bot.channel.room_info("R1")
        assert info is not None and "x" not in info.member_ids and info.owner_id == "o"
        assert info.topic == "孕妈交流群"


async def test_a_re_delivered_event_is_handled_once(tmp_path: Path) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake, cooldowns=False) as bot:
        world(fake)
        message_id = fake.message("b", "几个月可以加辅食", room="R1")
        fake.push(pb.EventType.EVENT_TYPE_MESSAGE, {"messageId": message_id})
        await bot.deliver(2)
        assert len(fake.sent) == 1
        fake.message("b", "几个月可以加辅食", room="R1")  # asked again: a new message
        await bot.deliver()
        assert len(fake.sent) == 2


async def test_stream_drop_mid_conversation_loses_no_send_and_repeats_none(
    tmp_path: Path,
) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake, cooldowns=False) as bot:
        world(fake)
        fake.message("b", "宝宝湿疹怎么办", room="R1")
        await bot.deliver()
        assert len(fake.sent) == 1
        # The gateway crashes; the connection is cut under the stream. The next send fails
        # as the service comes back, and the service re-delivers the last message.
        first = fake.message("a", "新生儿黄疸多少算高", room="R1")
        fake.resend_on_connect = [
            pb.EventResponse(
                type=pb.EventType.EVENT_TYPE_MESSAGE, payload=f'{{"messageId": "{first}"}}'
            )
        ]
        fake.fail_next("MessageSendText", grpclib.const.Status.UNAVAILABLE)
        await bot.deliver()  # the question before the crash
        assert len(fake.sent) == 1  # its answer failed and waits for a retry
        fake.abort_connections()
        await fake.wait_for_streams(2)
        assert bot.channel.sessions == 2
        await bot.deliver()  # the re-delivered copy: a duplicate
        fake.message("b", "纸尿裤怎么选尺码", room="R1")
        await bot.deliver()
        await bot.tick("1m")  # the failed answer's retry comes due
        texts = [s["text"] for s in fake.sent]
        assert len(texts) == 3
        assert sum("湿疹" in t for t in texts) == 1
        assert sum("黄疸" in t for t in texts) == 1
        assert sum("尺码" in t or "体重" in t for t in texts) == 1


async def test_the_watchdog_restarts_a_quiet_stream_and_leaves_a_live_one(
    tmp_path: Path,
) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        for _ in range(4):  # dings answered with dongs: the stream is alive
            await bot.ticker.fire()
        assert bot.channel.sessions == 1
        assert sum(1 for name, _ in fake.calls if name == "Ding") >= 3
        fake.answer_dings = False  # the service is wedged: no dong, no events
        for _ in range(3):
            await bot.ticker.fire()
        await fake.wait_for_streams(2)
        assert bot.channel.sessions == 2
        world(fake)
        fake.message("b", "宝宝湿疹怎么办", room="R1")
        await bot.deliver()
        assert len(fake.sent) == 1


async def test_malformed_events_are_skipped_and_the_stream_goes_on(tmp_path: Path) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        world(fake)
        fake.push_raw(pb.EventType.EVENT_TYPE_MESSAGE, "")
        fake.push_raw(pb.EventType.EVENT_TYPE_MESSAGE, "not json")
        fake.push_raw(pb.EventType.EVENT_TYPE_MESSAGE, '{"messageId": "missing"}')
        fake.push_raw(pb.EventType.EVENT_TYPE_HEARTBEAT, "")
        fake.push_raw(pb.EventType.EVENT_TYPE_LOGOUT, "")
        fake.push_raw(pb.EventType.EVENT_TYPE_ROOM_JOIN, '{"roomId": "R1"}')
        fake.push_raw(pb.EventType.EVENT_TYPE_ERROR, '{"data": "puppet exploded"}')
        fake.push_raw(pb.EventType.EVENT_TYPE_FRIENDSHIP, "[1, 2]")
        fake.push_raw(99, '{"whatever": true}')
        fake.message("b", "图片", room="R1", wire_type=6)
        fake.message("b", "未来的新类型", room="R1", wire_type=42)
        fake.message("b", "宝宝湿疹怎么办", room="R1")
        logout = await bot.next_event()
        assert isinstance(logout, AccountStatus) and logout.status == "logout"
        events = [await bot.next_event() for _ in range(3)]
        assert [e.type for e in events if isinstance(e, MessageReceived)] == [
            MessageType.IMAGE,
            MessageType.UNKNOWN,
            MessageType.TEXT,
        ]
        assert bot.channel.sessions == 1


async def test_scan_draws_the_qr_code_and_relogin_is_reported_to_admins(tmp_path: Path) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake, admins=["boss"]) as bot:
        fake.push(
            pb.EventType.EVENT_TYPE_SCAN,
            {"status": 2, "qrcode": "https://login.weixin.qq.com/l/abc", "data": ""},
        )
        fake.login()
        await bot.deliver()
        assert bot.qr.getvalue().count("\n") > 10  # a QR code was drawn
        fake.push(pb.EventType.EVENT_TYPE_LOGOUT, {"contactId": "bot", "data": "被踢下线"})
        await bot.deliver()
        assert fake.sent == []  # nobody to tell it through: the only account is out
        fake.login()
        await bot.deliver()
        (notice,) = fake.sent
        assert notice["conversation"] == "boss" and "重新登录" in notice["text"]


async def test_a_failing_call_is_retried_by_the_outbox_and_a_permanent_one_gives_up(
    tmp_path: Path,
) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        world(fake)
        outbox = bot.app.outbox
        await outbox.kick(
            account_id="brand", room_id="R404", contact_id="x", reason="广告", dedupe_key="k"
        )
        await bot.app.settle()
        assert outbox.failed == 1  # NOT_FOUND: no retry
        fake.fail_next("RoomAdd", grpclib.const.Status.UNAVAILABLE)
        await outbox.invite(account_id="brand", room_id="R1", contact_id="c", dedupe_key="i")
        await bot.app.settle()
        assert fake.invited == []
        await bot.tick("1m")
        assert fake.invited == [("R1", "c")]


async def test_sigterm_with_pending_sends_drains_them(tmp_path: Path) -> None:
    """`mamabot run`'s live loop: SIGTERM while answers are queued behind a slow send."""
    async with FakePuppetService() as fake:
        world(fake)
        bot = WechatyBot(tmp_path, fake, clock=SystemClock())
        gate = fake.hold("MessageSendText")
        live = asyncio.create_task(_run_live(bot.app))
        await fake.wait_for_streams(1)
        for question in ["宝宝湿疹怎么办", "新生儿黄疸多少算高", "几个月可以加辅食"]:
            fake.message("b", question)
        await fake.wait_for_call("MessageSendText")  # the first answer is on its way
        os.kill(os.getpid(), signal.SIGTERM)
        await fake.wait_for_streams_closed()  # shutdown began: no more events taken
        assert fake.sent == []
        gate.set()
        assert await asyncio.wait_for(live, 30) == 0
        assert len(fake.sent) == 3 and {s["conversation"] for s in fake.sent} == {"b"}
        assert len({s["text"] for s in fake.sent}) == 3
        bot.restore_env()


async def test_mamabot_run_with_an_account_connects_logs_in_and_answers(tmp_path: Path) -> None:
    async with FakePuppetService() as fake:
        world(fake)
        fake.auto_login = True
        base = copy_project(tmp_path)
        account_config(base, fake.endpoint)
        proc = await spawn_run(base, fake)
        try:
            await fake.wait_for_streams(1, timeout=60)
            fake.message("b", "宝宝湿疹怎么办", room="R1")
            await fake.wait_for_call("MessageSendText", timeout=60)
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = await asyncio.wait_for(proc.communicate(), 60)
        log = err.decode()
        assert proc.returncode == 0, log
        assert "logged in as" in log and "running with accounts: brand" in log
        assert fake.token not in log  # secrets stay out of the logs
        (answer,) = fake.sent
        assert answer["conversation"] == "R1" and "湿疹" in answer["text"]


async def test_payloads_are_cached_and_dirty_events_invalidate_them(tmp_path: Path) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        world(fake)

        def fetches(call: str) -> int:
            return sum(1 for name, _ in fake.calls if name == call)

        info = await bot.channel.room_info("R1")
        assert info is not None and info.topic == "孕妈交流群"
        await bot.channel.room_info("R1")
        assert (await bot.channel.contact_info("b")).name == "小美"  # type: ignore[union-attr]
        await bot.channel.contact_info("b")
        assert (fetches("RoomPayload"), fetches("ContactPayload")) == (1, 1)
        fake.rooms["R1"].topic = "孕妈交流2群"
        fake.contacts["b"] = "小美妈妈"
        fake.push(pb.EventType.EVENT_TYPE_DIRTY, {"payloadType": 3, "payloadId": "R1"})
        fake.push(pb.EventType.EVENT_TYPE_DIRTY, {"payloadType": 2, "payloadId": "b"})
        fake.message("a", "收到")  # an event after them: once it is out, they were read
        await bot.next_event()
        assert (await bot.channel.room_info("R1")).topic == "孕妈交流2群"  # type: ignore[union-attr]
        assert (await bot.channel.contact_info("b")).name == "小美妈妈"  # type: ignore[union-attr]
        fake.join("R1", ["c"], inviter="a", timestamp=5)  # membership changed
        fake.contact("c", "小红")
        await bot.next_event()
        info = await bot.channel.room_info("R1")
        assert info is not None and "c" in info.member_ids
        assert fetches("RoomPayload") == 3


async def test_the_stream_opens_before_start_and_carries_no_deadline(tmp_path: Path) -> None:
    async with FakePuppetService() as fake:
        fake.login_on_start = True  # a login right at Start reaches only open streams
        async with WechatyBot(tmp_path, fake) as bot:
            (login,) = await bot.deliver()
            assert isinstance(login, AccountStatus) and login.status == "login"
            assert fake.event_deadlines == [None]  # no per-call timeout on the stream


async def test_a_transient_payload_failure_is_retried_not_lost(tmp_path: Path) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        world(fake)
        fake.fail_next("MessagePayload", grpclib.const.Status.UNAVAILABLE)
        message_id = fake.message("b", "宝宝湿疹怎么办", room="R1")
        (event,) = await bot.deliver()
        assert isinstance(event, MessageReceived) and event.text == "宝宝湿疹怎么办"
        fetches = [r for name, r in fake.calls if name == "MessagePayload"]
        assert sum(1 for r in fetches if r.get("id") == message_id) == 2


async def test_stop_finishes_the_events_already_in_hand(tmp_path: Path) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        world(fake)
        gate = fake.hold("MessagePayload")
        fake.message("b", "宝宝湿疹怎么办", room="R1")
        await fake.wait_for_call("MessagePayload")  # its payload is being fetched
        stopping = asyncio.create_task(bot.channel.stop())
        await fake.wait_for_streams_closed()
        gate.set()
        await stopping
        event = await bot.next_event()
        assert isinstance(event, MessageReceived) and event.text == "宝宝湿疹怎么办"


async def test_mentions_name_whole_names_only(tmp_path: Path) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        world(fake)
        fake.contact("m", "小美妈妈")
        fake.rooms["R1"].members.append("m")
        text = await bot.channel.mention_text("R1", "@小美妈妈 你好", ["b"])
        assert text == "@小美\u2005@小美妈妈 你好"  # b is 小美, not 小美妈妈
        text = await bot.channel.mention_text("R1", "欢迎@小美，看群公告哦", ["b"])
        assert text == "欢迎@小美\u2005，看群公告哦"
        text = await bot.channel.mention_text("R1", "欢迎 @小美 @小美妈妈", ["b", "m"])
        assert text == "欢迎 @小美\u2005@小美妈妈\u2005"


async def _qr_warning_for(tmp_path: Path, fake: FakePuppetService) -> list[dict[str, object]]:
    from tests.test_guard_qr import photo

    async with WechatyBot(tmp_path, fake) as bot:
        world(fake)
        fake.login()
        await bot.deliver()
        fake.message("a", "", room="R1", image=photo())  # a photo without a code
        (plain,) = await bot.deliver()
        assert isinstance(plain, MessageReceived) and plain.type is MessageType.IMAGE
        fake.message("b", "", room="R1", image=photo("https://u.wechat.com/EFaKe123"))
        await bot.deliver()
        return [s for s in fake.sent if s["conversation"] == "R1"]


async def test_a_qr_code_image_is_fetched_as_an_inline_filebox_and_warned(tmp_path: Path) -> None:
    async with FakePuppetService() as fake:
        (warning,) = await _qr_warning_for(tmp_path, fake)
        assert warning["mentions"] == ["b"] and "个人微信二维码" in warning["text"]
        assert [name for name, _ in fake.calls].count("MessageImage") == 2


@contextlib.asynccontextmanager
async def image_server(routes: dict[str, Any]) -> AsyncIterator[str]:
    """A loopback HTTP server for image FileBox URLs; yields its base URL."""
    from aiohttp import web

    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def url_fake(url: str) -> FakePuppetService:
    fake = FakePuppetService()
    fake.image_box, fake.image_url = "url", url
    return fake


async def test_a_qr_code_image_behind_a_filebox_url_is_downloaded(tmp_path: Path) -> None:
    from aiohttp import web

    from tests.test_guard_qr import photo

    served: list[str] = []

    async def image(request: web.Request) -> web.Response:
        served.append(request.path)
        body = photo("https://u.wechat.com/EFaKe123", big=True)  # many chunks on the wire
        return web.Response(body=body, content_type="image/jpeg")

    async with image_server({"/img/{name}": image}) as base:
        fake = url_fake(f"{base}/img/x.jpg")
        async with fake:
            warnings = await _qr_warning_for(tmp_path, fake)
    # Both images are downloaded from the URL the FileBox names; it holds a code.
    assert served == ["/img/x.jpg", "/img/x.jpg"]
    assert [w["mentions"] for w in warnings] == [["a"], ["b"]]


async def test_a_service_without_message_image_streams_the_file(tmp_path: Path) -> None:
    fake = FakePuppetService()
    fake.image_box = "stream"
    async with fake:
        (warning,) = await _qr_warning_for(tmp_path, fake)
        assert warning["mentions"] == ["b"]
        assert [name for name, _ in fake.calls].count("MessageImageStream") == 2


async def test_an_image_url_that_redirects_or_is_too_big_is_not_followed(tmp_path: Path) -> None:
    from aiohttp import web

    import bot.channels.wechaty as wechaty_module
    from tests.test_guard_qr import photo

    served: list[str] = []

    async def moved(request: web.Request) -> web.Response:
        served.append(request.path)
        raise web.HTTPFound("/img/real.jpg")

    async def real(request: web.Request) -> web.Response:
        served.append(request.path)
        return web.Response(body=photo("https://u.wechat.com/EFaKe123"), content_type="image/jpeg")

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with image_server({"/img/moved.jpg": moved, "/img/real.jpg": real}) as base:
        async with url_fake(f"{base}/img/moved.jpg") as fake:
            assert await _qr_warning_for(tmp_path / "a", fake) == []
        assert served == ["/img/moved.jpg", "/img/moved.jpg"]  # the redirect not followed
        served.clear()
        limit = wechaty_module.MAX_IMAGE_BYTES
        wechaty_module.MAX_IMAGE_BYTES = 10_000  # the photo is larger than this
        try:
            async with url_fake(f"{base}/img/real.jpg") as fake:
                assert await _qr_warning_for(tmp_path / "b", fake) == []
        finally:
            wechaty_module.MAX_IMAGE_BYTES = limit
        assert served == ["/img/real.jpg", "/img/real.jpg"]


async def test_a_handed_over_group_takes_the_former_owners_power_at_once(tmp_path: Path) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        world(fake)
        fake.message("o", "#警告 b 第一次", room="R1")
        await bot.deliver()
        assert any("第1次" in s["text"] for s in fake.sent)  # o runs R1
        fake.rooms["R1"].owner_id = "a"  # handed over to 阿芳
        fake.push(pb.EventType.EVENT_TYPE_DIRTY, {"payloadType": 3, "payloadId": "R1"})
        fake.message("o", "#踢 b", room="R1")
        await bot.deliver()
        assert fake.kicked == []  # o commands nothing here any more
        assert "只有群主和管理员" in fake.sent[-1]["text"]


async def test_an_answer_due_while_logged_out_waits_and_goes_at_the_next_login(
    tmp_path: Path,
) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        world(fake)
        fake.login()
        await bot.deliver()
        fake.push(pb.EventType.EVENT_TYPE_LOGOUT, {"contactId": "bot", "data": "被踢下线"})
        await bot.deliver()
        fake.message("b", "宝宝湿疹怎么办", room="R1")
        await bot.deliver()
        await bot.tick("3h")  # past every retry a failing send would get
        assert fake.sent == []  # nothing tried, nothing failed
        fake.login()
        await bot.deliver()
        (answer,) = [s for s in fake.sent if s["conversation"] == "R1"]
        assert "湿疹" in answer["text"]


async def test_a_friend_who_deleted_the_bot_is_seen_by_the_bounce_notice(tmp_path: Path) -> None:
    """WeChat tells nobody when she deletes the account: the first message to her after
    is accepted and bounces with a notice in her chat. That notice marks her gone (no
    more marketing DMs, churn counts her), and is never answered as her message."""
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        fake.friend_request("c", "小红", "你好")
        await bot.deliver()
        greeted = len(fake.sent)
        assert await privacy.can_market("c")
        fake.deletes_the_bot("c")
        await bot.app.outbox.say(
            account_id="brand", room_id=None, contact_id="c", text="早上好", dedupe_key="d1"
        )
        await bot.app.settle()
        (event,) = await bot.deliver()
        assert isinstance(event, FriendRemoved) and (event.friend_id, event.by_her) == ("c", True)
        await bot.app.settle()
        contact = await Contact.get(contact_id="c")
        assert not contact.is_friend and contact.unfriended_at is not None
        assert not await privacy.can_market("c")
        assert len(fake.sent) == greeted + 1  # the notice got no answer
        await bot.app.interactions.flush(force=True)
        kinds = await Interaction.filter(contact_id="c").values_list("kind", flat=True)
        assert "friend_lost" in kinds and "message" not in kinds


async def test_a_wecom_deletion_event_says_who_deleted_whom(tmp_path: Path) -> None:
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        fake.contact("c", "小红", friend=True)
        fake.contact("d", "小丽", friend=True)
        fake.friendship_removed("c", by_her=True)
        fake.friendship_removed("d", by_her=False)
        events = await bot.deliver(2)
        assert sorted((e.contact_id, getattr(e, "by_her", None)) for e in events) == [
            ("c", True),
            ("d", False),
        ]
        await bot.app.settle()
        await bot.app.interactions.flush(force=True)
        kinds = dict(await Interaction.all().values_list("contact_id", "kind"))
        assert kinds == {"c": "friend_lost", "d": "friend_removed"}
        assert not await privacy.can_market("c") and not await privacy.can_market("d")


async def test_a_mother_quoting_the_notice_is_answered_and_her_dm_lifts_a_hold(
    tmp_path: Path,
) -> None:
    """Her own text that quotes the platform's notice is her message, not the notice; and
    a direct message from one recorded as gone (she unblocked the bot: no event) makes
    her a friend again."""
    async with FakePuppetService() as fake, WechatyBot(tmp_path, fake) as bot:
        fake.contact("c", "小红", friend=True)
        fake.contact("d", "小丽", friend=True)
        quoted = "我给闺蜜发消息，显示她开启了朋友验证，你还不是他（她）朋友，这是被删了吗？"
        fake.message("c", quoted)
        (event,) = await bot.deliver()
        assert isinstance(event, MessageReceived) and event.text == quoted
        # The whole notice as a text message (a gateway that sends it so) is the notice.
        fake.message("d", "消息已发出，但被对方拒收了。")
        (event,) = await bot.deliver()
        assert isinstance(event, FriendRemoved) and event.friend_id == "d"
        await bot.app.settle()
        assert not await privacy.can_market("d")
        fake.message("d", "刚才不小心把你拉黑了，已经放出来了")
        await bot.deliver()
        await bot.app.settle()
        contact = await Contact.get(contact_id="d")
        assert contact.is_friend and contact.unfriended_at is None
        assert await privacy.can_market("d")

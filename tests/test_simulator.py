"""The terminal simulator and `make run`'s simulator mode, driven by typed lines."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import App, AppSettings
from bot.channels.sim import SimWorld
from bot.clock import FakeClock
from bot.simrepl import Repl, describe, logs_for_the_terminal, run_repl
from tests.harness import REPO, START, BotUnderTest, copy_project


async def test_typed_session_shows_replies_tags_and_time(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    app = App.build(
        AppSettings(
            base_dir=REPO,
            database_url="sqlite://:memory:",
            redis_url="",
            clock=FakeClock(START),
            seed=0,
        ),
        world=SimWorld(),
    )
    await app.open()
    try:
        repl = Repl(app)
        await repl.setup()
        for line in [
            "/as 小丽",
            "/join",
            "/tick 1m",
            "宝宝湿疹怎么办",
            "/dm",
            "/friend 我是从小红书来的",
            "/tags",
            "/room 新群",
            "/nonsense",
        ]:
            assert await repl.handle_line(line)
            await app.settle()
        assert not await repl.handle_line("/quit")
    finally:
        await app.stop()
    out = capsys.readouterr().out
    assert "🤖 → 群 孕妈交流群: 欢迎 @小丽 加入【孕妈交流群】" in out
    assert "湿疹" in out
    assert "🏷  小丽 +渠道:小红书 (channel)" in out
    assert "🤝 通过好友 小丽" in out
    assert "渠道:小红书(channel)" in out  # /tags
    assert "⏰ 2026-11-25 09:01" in out
    assert "不认识的命令" in out
    assert repl.world.room_by_topic("新群") is not None


def test_mamabot_run_without_accounts_starts_the_simulator(tmp_path: Path) -> None:
    copy_project(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--dir", str(tmp_path)],
        input="/tick 1m\n宝宝湿疹怎么办\n/quit\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("mamabot: no WeChat account configured") and "simulator" in first
    assert "湿疹" in result.stdout
    # The same simulator as `mamabot sim`: its clock moves (this crashed it once) ...
    assert "⏰ " in result.stdout and "advance_to" not in result.stderr
    # ... on its own database: the fake groups and bans never reach the real account's.
    assert (tmp_path / "data" / "sim.sqlite3").exists()
    assert not (tmp_path / "data" / "mamabot.sqlite3").exists()


async def test_two_accounts_in_one_process_are_separate_channels(tmp_path: Path) -> None:
    copy_project(tmp_path)
    config = (tmp_path / "config.toml").read_text(encoding="utf-8")
    config += '\n[[accounts]]\nid = "a1"\nkind = "sim"\n\n[[accounts]]\nid = "a2"\nkind = "sim"\n\n[[accounts]]\nid = "off"\nkind = "sim"\nenabled = false\n'
    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    world = SimWorld()
    app = App.build(
        AppSettings(
            base_dir=tmp_path,
            database_url="sqlite://:memory:",
            redis_url="",
            clock=FakeClock(START),
        ),
        world=world,
    )
    await app.open()
    try:
        assert sorted(app.channels) == ["a1", "a2"]
        a1, a2 = app.channels["a1"], app.channels["a2"]
        world.add_room("R1", "孕妈交流群", "o", ["o"])
        a1.push(a1.message("b", "宝宝湿疹怎么办"))  # type: ignore[attr-defined]
        a2.push(a2.message("c", "宝宝黄疸怎么办"))  # type: ignore[attr-defined]
        await app.settle()
        assert [a["to"] for a in a1.actions] == ["b"]  # type: ignore[attr-defined]
        assert [a["to"] for a in a2.actions] == ["c"]  # type: ignore[attr-defined]
    finally:
        await app.stop()


async def test_a_logout_is_reported_to_admins_through_another_account(tmp_path: Path) -> None:
    from bot.events import AccountStatus

    copy_project(tmp_path)
    config = (tmp_path / "config.toml").read_text(encoding="utf-8")
    config = config.replace("super_admins = []", 'super_admins = ["boss"]')
    config += '\n[[accounts]]\nid = "a1"\nkind = "sim"\n\n[[accounts]]\nid = "a2"\nkind = "sim"\n'
    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    app = App.build(
        AppSettings(
            base_dir=tmp_path,
            database_url="sqlite://:memory:",
            redis_url="",
            clock=FakeClock(START),
        ),
        world=SimWorld(),
    )
    await app.open()
    try:
        a1, a2 = app.channels["a1"], app.channels["a2"]

        def status(name: str, n: int) -> AccountStatus:
            return AccountStatus(
                event_id=f"s{n}", account_id="a1", at=START, status=name, self_id="bot-a1"
            )

        await app.receive(status("logout", 1))
        await app.settle()
        assert a1.actions == []  # type: ignore[attr-defined]
        (notice,) = a2.actions  # type: ignore[attr-defined]
        assert notice["to"] == "boss" and "a1" in notice["text"] and "掉线" in notice["text"]
        await app.receive(status("login", 2))
        await app.settle()
        (back,) = a1.actions  # type: ignore[attr-defined]
        assert back["to"] == "boss" and "重新登录" in back["text"]
        assert "bot-a1" in app.self_ids
    finally:
        await app.stop()


def sim_app() -> App:
    """The app `mamabot sim` runs, on an in-memory database and a clock tests move."""
    return App.build(
        AppSettings(
            base_dir=REPO, database_url="sqlite://:memory:", redis_url="", clock=FakeClock(START)
        ),
        world=SimWorld(),
    )


async def test_the_simulator_sends_a_picked_at_name_with_its_mention_id() -> None:
    app = sim_app()
    await app.open()
    try:
        repl = Repl(app)
        await repl.setup()
        room = repl.world.rooms[repl.room or ""]
        for contact, name in (("m1", "小红"), ("m2", "小张"), ("m3", "小张")):
            repl.world.add_contact(contact, name)
            room.members.append(contact)
        pushed: list[Any] = []
        real_push = repl.channel.push
        repl.channel.push = lambda event: pushed.append(event) or real_push(event)  # type: ignore[method-assign]
        await repl.handle_line("/as 群主")
        await repl.handle_line("#警告 @小红 不要发广告")
        await repl.handle_line("@小张 @小红\u2005@不认识 你们好")
        await app.settle()
    finally:
        await app.stop()
    assert list(pushed[0].mentions) == ["m1"]
    # Two 小张: WeChat's list would make her pick one; typed, it stays text.
    assert list(pushed[1].mentions) == ["m1"]
    warned = [a for a in repl.channel.actions if a["action"] == "say" and a["room"] == room.room_id]
    assert warned and warned[0]["mentions"] == ["m1"] and "不要发广告" in warned[0]["text"]


async def test_the_simulator_commands_say_how_to_use_them_and_leave_means_gone(
    capsys, caplog
) -> None:  # type: ignore[no-untyped-def]
    app = sim_app()
    await app.open()
    try:
        repl = Repl(app)
        await repl.setup()
        capsys.readouterr()
        for line in ("/as", "/room", "/tick", "/tick 3x"):
            await repl.handle_line(line)
        out = capsys.readouterr().out
        assert "用法：/as 名字" in out and "用法：/room 群名" in out
        assert out.count("用法：/tick") == 2 and "不认识的命令" not in out
        print(repl.cast())
        cast = capsys.readouterr().out
        assert "群「孕妈交流群」 群主：群主  成员：小美" in cast and "你现在是 小美" in cast
        await repl.handle_line("/leave")
        assert "👋 小美 退出了群「孕妈交流群」" in capsys.readouterr().out
        await app.settle()
        before = len(repl.channel.actions)
        await repl.handle_line("宝宝湿疹怎么办")
        await app.settle()
        assert "小美 不在群「孕妈交流群」里" in capsys.readouterr().out
        assert len(repl.channel.actions) == before  # she is gone: nothing she says arrives
        await repl.handle_line("/dm")
        await repl.handle_line("/join")
        assert "/join 要在群里用" in capsys.readouterr().out
        caplog.set_level(logging.INFO)
        await repl.handle_line("/tick 10d")
        assert not [r for r in caplog.records if "stage recompute" in r.getMessage()]
    finally:
        await app.stop()


def test_the_simulator_shows_mentions_and_logs_on_the_bots_clock() -> None:
    record = {
        "at": "2026-11-25T09:00:00+08:00",
        "action": "say",
        "room": "R1",
        "to": None,
        "text": "可以看看这个",
        "mentions": ["m1"],
    }
    line = describe(record, {"m1": "小美"}, {"R1": "孕妈交流群"})
    assert line.endswith("🤖 → 群 孕妈交流群: @小美 可以看看这个")
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logs_for_the_terminal(ZoneInfo("Asia/Shanghai"))
        entry = logging.LogRecord("x", logging.INFO, __file__, 1, "hi", None, None)
        entry.created = datetime(2026, 11, 25, 1, 0, tzinfo=UTC).timestamp()
        assert handler.format(entry).startswith("2026-11-25 09:00:00")
    finally:
        root.removeHandler(handler)


async def _typed(*lines: Any) -> Any:
    """Typed lines; a coroutine function among them runs at its turn."""
    for line in lines:
        if callable(line):
            await line()
        else:
            yield line + "\n"


async def test_the_simulator_picks_up_content_edits_and_resets_its_database(
    tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """run_repl as both `make run` and `mamabot sim` start it: an edit to content/ is in
    force without /reload, and /reset starts again on an empty database."""
    import asyncio

    from storage.models import Interaction

    copy_project(tmp_path)
    path = tmp_path / "data" / "sim.sqlite3"
    edited = asyncio.Event()

    def build() -> App:
        return App.build(
            AppSettings(
                base_dir=tmp_path,
                database_url=f"sqlite://{path}",
                redis_url="",
                clock=FakeClock(START),
            ),
            world=SimWorld(),
        )

    def fresh() -> App:
        path.unlink()
        return build()

    async def changes() -> Any:
        await edited.wait()
        yield {"keywords.toml"}

    app = build()

    async def edit() -> None:
        kw = tmp_path / "content" / "keywords.toml"
        kw.write_text(
            kw.read_text(encoding="utf-8")
            + '\n[[rules]]\nid = "mascot"\nkeywords = ["吉祥物"]\nreplies = ["是小海豚🐬"]\n',
            encoding="utf-8",
        )
        reloaded = asyncio.Event()

        async def mark(problems: list[str]) -> None:
            reloaded.set()

        app.content.after_reload.append(mark)
        edited.set()
        await reloaded.wait()  # the watcher's turn, no clock involved

    async def spoke() -> None:
        await app.interactions.flush(force=True)
        assert await Interaction.all().count() > 0  # what /reset must take away

    lines = _typed(edit, "吉祥物是什么", spoke, "/reset", "/quit")
    assert await run_repl(app, rebuild=fresh, lines=lines, changes=changes()) == 0
    out = capsys.readouterr().out
    assert "是小海豚🐬" in out
    assert "🧹 模拟器的数据库已清空" in out
    assert out.count("演员表") == 2  # a fresh start after /reset
    async with BotUnderTest(tmp_path, database_url=f"sqlite://{path}"):
        assert await Interaction.all().count() == 0


async def test_an_english_admin_alias_with_a_slash_reaches_the_bot(capsys) -> None:  # type: ignore[no-untyped-def]
    app = sim_app()
    await app.open()
    try:
        repl = Repl(app)
        await repl.setup()
        await repl.handle_line("/as 群主")
        await repl.handle_line("/stats")
        await app.settle()
    finally:
        await app.stop()
    assert "不认识的命令" not in capsys.readouterr().out
    stats = [a for a in repl.channel.actions if a["action"] == "say" and a["to"] == "群主"]
    assert stats and stats[0]["text"].startswith("📊")

"""退订 and deletion do what they promise, through the simulator and the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from storage.models import (
    Contact,
    ContactTag,
    DialogState,
    GuardAudit,
    Interaction,
    Profile,
    TagEvent,
)
from tests.harness import BotUnderTest, copy_project


def texts(actions: list[dict[str, Any]]) -> list[str]:
    return [a["text"] for a in actions if a["action"] == "say"]


async def test_opt_out_stops_marketing_but_not_answers_and_can_be_undone() -> None:
    async with BotUnderTest() as bot:
        await bot.friend_request("c", "小红", "你好")
        (confirm,) = texts(await bot.says("c", "TD"))  # in the middle of the intake
        assert "已为你退订" in confirm
        (again,) = texts(await bot.says("c", "退订"))
        assert "已经退订" in again
        assert texts(await bot.tick("25h")) == []  # no dialog reminder after 退订
        (answer,) = texts(await bot.says("c", "宝宝湿疹怎么办"))  # her questions still work
        assert "湿疹" in answer
        (back,) = texts(await bot.says("c", "恢复订阅"))
        assert "已恢复订阅" in back
        contact = await Contact.get(contact_id="c")
        assert contact.opted_out_at is None


async def test_no_birth_question_after_opt_out() -> None:
    async with BotUnderTest() as bot:
        await bot.friend_request("c", "小红", "你好")
        await bot.says("c", "预产期是下周")
        await bot.says("c", "不用了")
        await bot.says("c", "退订")
        assert texts(await bot.tick("20d")) == []


async def test_deletion_asks_first_then_forgets_her(tmp_path: Path) -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o"])
        await bot.join("R1", "c", "小红")
        await bot.friend_request("c", "小红", "我是从小红书来的")
        await bot.says("c", "宝宝8个月")
        await bot.says("o", "#标签 c 杭州二胎", room="R1")  # an admin's note about her
        await bot.says("o", "#警告 c 别发链接", room="R1")
        assert await bot.app.kv.get("g:warn:R1:c") == "1"
        assert await Profile.filter(contact_id="c").exists()
        assert await bot.app.kv.get_json("dialog:c") is not None  # in the middle of the intake
        assert texts(await bot.says("c", "确认删除")) != []  # nothing asked yet: not deletion
        assert await Profile.filter(contact_id="c").exists()
        (ask,) = texts(await bot.says("c", "删除我的信息"))
        assert "确认删除" in ask
        (done,) = texts(await bot.says("c", "确认删除"))
        assert "已删除" in done
        assert not await Profile.filter(contact_id="c").exists()
        assert not await ContactTag.filter(contact_id="c").exists()
        assert not await TagEvent.filter(contact_id="c").exists()
        assert not await DialogState.filter(contact_id="c").exists()
        assert await bot.app.kv.get_json("dialog:c") is None  # the mirror went too
        assert await bot.app.kv.get("g:warn:R1:c") is None  # and her warning count
        assert not await Contact.filter(contact_id="c").exists()
        audits = await GuardAudit.all().values_list("action", "contact_id", "text")
        assert {a for a, _, _ in audits} >= {"tag", "warn"}  # the counts stay
        assert all(who != "c" and text is None for _, who, text in audits if who != "")
        await bot.app.interactions.flush()
        assert not await Interaction.filter(contact_id="c").exists()
        anonymous = await Interaction.filter(contact_id__startswith="anon-").all()
        assert len(anonymous) >= 4 and all(row.text is None for row in anonymous)
        assert len({row.contact_id for row in anonymous}) == 1


async def test_the_confirmation_expires() -> None:
    async with BotUnderTest() as bot:
        await bot.friend_request("c", "小红", "你好")
        await bot.says("c", "宝宝8个月")
        await bot.says("c", "不用了")
        await bot.says("c", "删除我的信息")
        await bot.tick("11m")
        done = texts(await bot.says("c", "确认删除"))
        assert not any("已删除" in t for t in done)
        assert await Profile.filter(contact_id="c").exists()


def test_mamabot_forget_does_the_same_for_ops(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    copy_project(tmp_path)
    db = f"sqlite://{tmp_path}/bot.sqlite3"

    async def before() -> None:
        async with BotUnderTest(tmp_path, database_url=db) as bot:
            await bot.friend_request("c", "小红", "我是从小红书来的")
            await bot.says("c", "宝宝8个月")

    async def after() -> tuple[bool, bool, bool]:
        async with BotUnderTest(tmp_path, database_url=db):
            return (
                await Profile.filter(contact_id="c").exists(),
                await Interaction.filter(contact_id="c").exists(),
                await Interaction.filter(contact_id__startswith="anon-").exists(),
            )

    asyncio.run(before())
    assert main(["forget", "c", "--dir", str(tmp_path), "--db", db]) == 0
    out = capsys.readouterr().out
    assert out.startswith("forgot c: ") and "profile=1" in out and "contact=1" in out
    assert asyncio.run(after()) == (False, False, True)


async def test_opt_out_ends_the_dialog_and_survives_deletion() -> None:
    from storage.models import OutboxMessage
    from storage.privacy import can_market

    async with BotUnderTest() as bot:
        await bot.friend_request("c", "小红", "你好")
        await bot.says("c", "退订")
        assert not await DialogState.filter(contact_id="c").exists()
        done = await bot.says("c", "宝宝8个月")  # no longer an answer to anything
        assert [a for a in done if a["action"] == "tag"] == []
        private = await OutboxMessage.all().values_list("payload", flat=True)
        assert any(p.get("to") == "c" for p in private)  # type: ignore[union-attr]
        await bot.says("c", "删除我的信息")
        await bot.says("c", "确认删除")
        assert not await can_market("c")  # 退订 kept as a bare suppression entry
        contact = await Contact.get(contact_id="c")
        assert contact.name == "" and contact.channel is None
        await bot.app.outbox.persist()
        left = await OutboxMessage.all().values_list("payload", flat=True)
        assert [p["text"] for p in left if p.get("to") == "c"] == [  # type: ignore[index, union-attr]
            "已删除你的全部资料🙏 聊天里的记录已匿名化。以后有需要随时再找我。"
        ]


def test_mamabot_forget_deletes_nothing_while_a_store_is_away(
    tmp_path: Path, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """REDIS_URL set but Redis down: all or nothing, so nothing, and a sentence that says
    why instead of a traceback after a partial delete."""
    copy_project(tmp_path)
    db = f"sqlite://{tmp_path}/bot.sqlite3"

    async def before() -> None:
        async with BotUnderTest(tmp_path, database_url=db) as bot:
            await bot.friend_request("c", "小红", "我是从小红书来的")
            await bot.says("c", "宝宝8个月")

    async def kept() -> tuple[bool, bool]:
        async with BotUnderTest(tmp_path, database_url=db):
            return (
                await Profile.filter(contact_id="c").exists(),
                await ContactTag.filter(contact_id="c").exists(),
            )

    asyncio.run(before())
    capsys.readouterr()
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert main(["forget", "c", "--dir", str(tmp_path), "--db", db]) == 1
    err = capsys.readouterr().err
    assert "key-value store is unreachable" in err and "nothing was deleted" in err
    assert "Traceback" not in err
    monkeypatch.delenv("REDIS_URL")
    assert asyncio.run(kept()) == (True, True)


def test_mamabot_forget_of_an_unknown_id_says_so(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    copy_project(tmp_path)
    db = f"sqlite://{tmp_path}/bot.sqlite3"

    async def before() -> None:
        async with BotUnderTest(tmp_path, database_url=db) as bot:
            await bot.says("c", "你好")

    asyncio.run(before())
    capsys.readouterr()
    assert main(["forget", "C", "--dir", str(tmp_path), "--db", db]) == 1
    captured = capsys.readouterr()
    assert "no contact with id 'C'" in captured.err and "nothing was deleted" in captured.err
    assert captured.out == ""
    assert main(["forget", "c", "--dir", str(tmp_path), "--db", db]) == 0


def test_mamabot_contacts_finds_her_id_by_name(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """config.toml names people by id; ops know them by name."""
    copy_project(tmp_path)
    db = f"sqlite://{tmp_path}/bot.sqlite3"

    async def before() -> None:
        async with BotUnderTest(tmp_path, database_url=db) as bot:
            bot.room("R1", "孕妈交流群", "owner1", ["owner1"])
            await bot.register_room("R1")
            await bot.join("R1", "wxid_m1", "小美")
            await bot.friend_request("wxid_m1", "小美", "我是从小红书来的")
            await bot.says("wxid_m2", "你好", name="小丽")

    asyncio.run(before())
    capsys.readouterr()
    assert main(["contacts", "小美", "--dir", str(tmp_path), "--db", db]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    contact_id, name, groups, tags = line.split("\t")
    assert (contact_id, name, groups) == ("wxid_m1", "小美", "群: 孕妈交流群")
    assert "渠道:小红书" in tags
    assert main(["contacts", "小红", "--dir", str(tmp_path), "--db", db]) == 1
    assert "no contact named '小红'" in capsys.readouterr().err


async def test_forget_waits_while_her_messages_are_not_written_yet() -> None:
    from storage.models import Profile

    async with BotUnderTest() as bot:
        await bot.friend_request("c", "小红", "你好")
        await bot.says("c", "宝宝8个月")
        assert bot.app.interactions.pending > 0  # written behind, in batches

        async def stuck(force: bool = False) -> int:  # the database just came back
            return 0

        bot.app.interactions.flush = stuck  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="not written yet"):
            await bot.app.forget("c")
        assert await Profile.filter(contact_id="c").exists()  # nothing deleted

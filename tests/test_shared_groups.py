"""Two of the brand's accounts in one group: each receives the group's messages, joins and
leaves (with ids of its own); the group gets one answer, one welcome, one warning."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.channels.sim import SimChannel
from bot.events import MessageType
from storage import people
from storage.models import Interaction, RoomMembership
from tests.harness import BotUnderTest, copy_project

ACCOUNTS = ["brand-a", "brand-b"]


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    copy_project(tmp_path)
    config = tmp_path / "config.toml"
    blocks = "".join(f'\n[[accounts]]\nid = "{a}"\nkind = "sim"\n' for a in ACCOUNTS)
    config.write_text(config.read_text(encoding="utf-8") + blocks, encoding="utf-8")
    async with BotUnderTest(tmp_path, database_url=f"sqlite://{tmp_path}/db.sqlite3") as running:
        running.room("R1", "孕妈交流群", owner="o", members=["o", "m"])
        await running.register_room("R1")
        yield running


def channels(bot: BotUnderTest) -> tuple[SimChannel, SimChannel]:
    a, b = bot.app.sim_channels()
    assert [a.account_id, b.account_id] == ACCOUNTS
    return a, b


async def both_see_message(bot: BotUnderTest, text: str, **kw: object) -> None:
    for channel in channels(bot):
        channel.push(channel.message("m", text, room_id="R1", **kw))  # type: ignore[arg-type]
    await bot.app.settle()


async def test_a_question_seen_by_both_accounts_is_answered_once(bot: BotUnderTest) -> None:
    await both_see_message(bot, "宝宝湿疹怎么办")
    answers = [s for s in bot.said_in("R1") if "湿疹" in s["text"]]
    assert len(answers) == 1
    assert bot.app.dispatcher.copies == 1
    await bot.app.interactions.flush(force=True)
    # Both copies are in the log (the metrics count a group's message once themselves).
    assert await Interaction.filter(kind="message", room_id="R1").count() == 2


async def test_she_asking_again_through_the_same_account_is_answered_again(
    bot: BotUnderTest,
) -> None:
    a, _ = channels(bot)
    for _ in range(2):
        a.push(a.message("m", "宝宝湿疹怎么办", room_id="R1"))
        await bot.app.settle()
    assert bot.app.dispatcher.copies == 0


async def test_a_join_seen_by_both_is_welcomed_once_and_recorded(bot: BotUnderTest) -> None:
    for channel in channels(bot):
        channel.push(channel.join("R1", "n", "新妈妈"))
    await bot.app.settle()
    await bot.tick("2m")
    welcomes = [s for s in bot.said_in("R1") if "n" in s["mentions"]]
    assert len(welcomes) == 1
    stints = await RoomMembership.filter(room_id="R1", contact_id="n", left_at=None).count()
    assert stints == 1 and "R1" in await people.rooms_of("n")


async def test_pictures_and_mentions_of_one_account_are_not_merged(bot: BotUnderTest) -> None:
    await both_see_message(bot, "", type=MessageType.IMAGE)
    assert bot.app.dispatcher.copies == 0  # two pictures cannot be told apart: no key


async def test_the_account_that_owns_the_group_answers_for_it(tmp_path: Path) -> None:
    """Only the owner can remove a member: when one of the accounts owns the group, its
    copy is the one handled, whichever copy came first."""
    copy_project(tmp_path)
    config = tmp_path / "config.toml"
    blocks = "".join(f'\n[[accounts]]\nid = "{a}"\nkind = "sim"\n' for a in ACCOUNTS)
    config.write_text(config.read_text(encoding="utf-8") + blocks, encoding="utf-8")
    async with BotUnderTest(tmp_path, database_url=f"sqlite://{tmp_path}/db.sqlite3") as bot:
        a, b = channels(bot)
        bot.room("R2", "宝妈二群", owner=b.self_id, members=[b.self_id, a.self_id, "m"])
        for channel in (a, b):  # brand-a's copy comes first
            channel.push(channel.message("m", "宝宝湿疹怎么办", room_id="R2"))
        await bot.app.settle()
        sent = {
            c.account_id: [x for x in c.actions if x["action"] == "say" and "湿疹" in x["text"]]
            for c in (a, b)
        }
        assert (len(sent["brand-a"]), len(sent["brand-b"])) == (0, 1)

"""A NUL or a lone surrogate in a name or a message costs nothing: PostgreSQL refuses both
in text and JSON (SQLite refuses surrogates), and one such row used to hold back the whole
outbox or interaction batch it was written in. Text is made storable where it enters."""

from __future__ import annotations

import pytest

from bot.clock import FakeClock
from bot.config import OutboxSection
from bot.outbox import Outbox
from bot.text import storable
from storage.models import Interaction, OutboxMessage
from tests import services
from tests.harness import START, BotUnderTest


def test_storable_replaces_nul_and_lone_surrogates_only() -> None:
    assert storable("小\x00美\ud800") == "小\ufffd美\ufffd"
    assert storable("宝宝😊") == "宝宝😊"  # a real pair stays


async def test_a_nul_name_and_a_surrogate_message_are_stored_and_answered() -> None:
    async with BotUnderTest(database_url=services.postgres_url()) as bot:
        await bot.app.db.truncate_all()
        bot.room("R1", "孕妈交流群", "owner1", ["owner1"])
        bot.world.rooms["R1"].members.append("m1")
        await bot.join("R1", "m1", "小\x00美")
        await bot.tick("2m")
        (welcome,) = [a for a in bot.said_in("R1") if "m1" in a["mentions"]]
        assert "\x00" not in welcome["text"] and "小\ufffd美" in welcome["text"]
        answered = await bot.says("m1", "宝宝湿疹怎么办\ud800", room="R1")
        assert any("湿疹" in a.get("text", "") for a in answered)
        await bot.app.interactions.flush()
        assert await Interaction.filter(contact_id="m1").count() >= 2
        assert await OutboxMessage.filter(status="sent").count() >= 2
        await bot.app.db.truncate_all()


async def test_an_action_the_database_could_not_store_is_refused_when_it_is_made() -> None:
    outbox = Outbox(FakeClock(START), OutboxSection())
    with pytest.raises(ValueError, match="not JSON"):
        outbox._enqueue("acc", "say", {"room": "R1", "text": object()}, "k1")
    await outbox.say(
        account_id="acc", room_id="R1", contact_id=None, text="ok\x00", dedupe_key="k2"
    )
    (row,) = outbox._buffer
    assert row.payload["text"] == "ok\ufffd"

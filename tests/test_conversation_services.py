"""The same conversation on the production stack: PostgreSQL and Redis, for real."""

from __future__ import annotations

import uuid

from bot.clock import FakeClock
from storage.db import Database
from storage.kv_redis import RedisKV
from storage.models import Interaction, OutboxMessage
from tests import services
from tests.harness import START, BotUnderTest


async def test_welcome_keyword_and_friend_on_postgres_and_redis() -> None:
    pg, redis = services.postgres_url(), services.redis_url()
    db = Database(pg)
    await db.open()
    await db.truncate_all()
    await db.close()
    prefix = f"mamabot-test:{uuid.uuid4().hex}:"
    try:
        async with BotUnderTest(database_url=pg, redis_url=redis, kv_prefix=prefix) as bot:
            bot.room("R1", "孕妈交流群", owner="o", members=["o", "a"])
            await bot.join("R1", "b", "小美", inviter="a")
            await bot.tick("31s")
            assert bot.said_in("R1")[0]["mentions"] == ["b"]
            answer = await bot.says("b", "宝宝湿疹怎么办", room="R1")
            assert any(a["action"] == "say" for a in answer)
            # Within the cooldown (kept in Redis): one pointer to the answer, then nothing.
            again = await bot.says("b", "宝宝湿疹怎么办", room="R1")
            (pointer,) = [a for a in again if a["action"] == "say"]
            assert pointer["text"] == "上面刚回复过哦👆" and pointer["mentions"] == ["b"]
            other = await bot.says("a", "宝宝湿疹怎么办", room="R1")  # another asker: her pointer
            assert [x["mentions"] for x in other if x["action"] == "say"] == [["a"]]
            again = await bot.says("a", "宝宝湿疹怎么办", room="R1")
            assert [x for x in again if x["action"] == "say"] == []  # once each
            await bot.friend_request("c", "小红", "小红书看到的")
            assert await bot.app.tags.tags_of("c") == {"渠道:小红书": "channel"}
            # The intake's state is in Redis with an expiry, and her answer moves it on.
            (state,) = (await bot.app.kv.get_json("dialog:c"))["dialogs"]
            assert (state["dialog"], state["step"]) == ("intake", 0)
            assert 0 < (await bot.app.kv.ttl("dialog:c") or 0) <= 3 * 86400
            await bot.says("c", "孕24周")
            (state,) = (await bot.app.kv.get_json("dialog:c"))["dialogs"]
            assert state["step"] == 1 and state["answered"] == 1
            await bot.app.interactions.flush()
            assert await Interaction.filter(kind="message").count() == 5  # b twice, a twice, c once
            assert await OutboxMessage.filter(status="sent").count() == len(
                [a for a in bot.actions if a["action"] != "tag"]
            )
    finally:
        kv = RedisKV(redis, FakeClock(START), prefix=prefix)
        await kv.flush_prefix()
        await kv.close()

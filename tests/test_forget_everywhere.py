"""`forget` reaches every place her id or her name can be, end to end.

A mother is welcomed with another newcomer, DMs the bot, is tagged and warned by the
group's owner, mentioned by another mother, kicked (and banned) by the guard for an ad, by
the owner who quotes her ("#踢 @<name>", then "已将 <name> 移出群聊"), and a row about her
was refused and set aside in dead_letter. After `forget`, every text and JSON column of every table and every
key-value key and value is searched for her id and her display name: only the ban keeps
her id (a ban survives deletion, storage.privacy.FORGET_COVERS). On SQLite with the
in-process store, and on PostgreSQL with Redis.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.clock import FakeClock
from storage import dead_letter, privacy
from storage.db import Database
from storage.kv import MemoryKV
from storage.kv_redis import RedisKV
from storage.models import ALL_MODELS, GuardBan, OutboxMessage
from tests import services
from tests.harness import START, BotUnderTest, copy_project

HER, NAME = "wxid_mei_9", "梅子妈妈"
ROOM, TOPIC = "R9", "梅子测试群"
ROOM_BLOCK = f'\n[[rooms]]\nmatch = "{TOPIC}"\nadmins = ["helper"]\n'
# The only place her id stays, on purpose.
KEPT = {"guard_ban.contact_id"}


def needles() -> list[str]:
    escaped = [json.dumps(s, ensure_ascii=True)[1:-1] for s in (HER, NAME)]
    return [HER, NAME, *escaped]


def carries_her(value: Any) -> bool:
    if value is None:
        return False
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return any(n in text for n in needles())


async def rows_that_name_her() -> list[str]:
    found = []
    for model in ALL_MODELS:
        table = model._meta.db_table
        for name, column, _is_json in privacy.text_columns(model):
            if f"{table}.{column}" in KEPT:
                continue
            for row_id, value in await model.all().values_list("id", name):
                if carries_her(value):
                    found.append(f"{table}.{column} #{row_id}: {str(value)[:120]}")
    return found


async def kv_entries(bot: BotUnderTest) -> list[tuple[str, str]]:
    kv = bot.app.kv
    if isinstance(kv, MemoryKV):
        return [(k, str(v)) for k, v in kv._values.items()]
    assert isinstance(kv, RedisKV)
    client = aioredis.from_url(services.redis_url())
    try:
        entries = []
        async for raw in client.scan_iter(match=f"{kv._prefix}*"):
            key = raw.decode()
            kind = (await client.type(raw)).decode()
            if kind == "string":
                value = (await client.get(raw) or b"").decode()
            elif kind == "zset":  # a sliding window: its members
                value = " ".join(m.decode() for m in await client.zrange(raw, 0, -1))
            elif kind == "hash":
                value = str(await client.hgetall(raw))
            else:
                raise AssertionError(f"a {kind} in the store: teach this test to read it")
            entries.append((key, value))
        return entries
    finally:
        await client.aclose()


async def live_through_it(bot: BotUnderTest) -> None:
    bot.room(ROOM, TOPIC, owner="owner1", members=["owner1", "helper", "a"])
    await bot.join(ROOM, HER, NAME, inviter="a")
    await bot.join(ROOM, "wxid_lan", "小兰", inviter="a")
    await bot.tick("31s")
    (welcome,) = bot.said_in(ROOM)
    assert f"@{NAME}" in welcome["text"] and HER in welcome["mentions"]
    await bot.says(HER, "大家好，我是梅子妈妈，宝宝8个月", room=ROOM)
    await bot.friend_request(HER, NAME, "你好")
    await bot.says(HER, "宝宝8个月")
    await bot.says(HER, "你们是做什么的呀")  # no rule answers: the fallback's mark
    await bot.says(HER, "宝宝湿疹怎么办")  # a keyword in a DM: its cooldown
    await bot.says(HER, "#踢 @小兰", room=ROOM)  # not an admin: the refusal's mark
    await bot.says("owner1", f"#标签 @{NAME} 杭州二胎", room=ROOM, mentions=[HER])
    await bot.says("owner1", f"#警告 @{NAME} 别发链接", room=ROOM, mentions=[HER])
    await bot.says("a", f"@{NAME} 你家宝宝睡整觉了吗", room=ROOM, mentions=[HER])
    await bot.says(HER, "加我微信领免费奶粉试用装，名额有限 http://bit.ly/abc", room=ROOM)
    await bot.says("owner1", f"#踢 @{NAME} 发广告", room=ROOM, mentions=[HER])
    assert {k["contact"] for k in bot.of("kick")} == {HER}  # by the guard, then the owner
    assert any(NAME in a["text"] for a in bot.said_to("owner1"))  # 已将 <name> 移出群聊
    await dead_letter.set_aside(
        "outbox",
        {"payload": {"room": ROOM, "text": f"@{NAME} 你好", "mentions": [HER]}},
        f"refused: {HER}",
        at=bot.clock.now(),
    )
    await bot.app.interactions.flush()
    await bot.app.outbox.persist()


@pytest.fixture(params=["sqlite+memory", "postgres+redis"])
async def bot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    base = copy_project(tmp_path)
    with (base / "config.toml").open("a", encoding="utf-8") as config:
        config.write(ROOM_BLOCK)
    if request.param == "sqlite+memory":
        async with BotUnderTest(base) as running:
            yield running
        return
    pg, redis = services.postgres_url(), services.redis_url()
    db = Database(pg)
    await db.open()
    await db.truncate_all()
    await db.close()
    prefix = f"mamabot-test:{uuid.uuid4().hex}:"
    try:
        async with BotUnderTest(base, database_url=pg, redis_url=redis, kv_prefix=prefix) as bot:
            yield bot
    finally:
        kv = RedisKV(redis, FakeClock(START), prefix=prefix)
        await kv.flush_prefix()
        await kv.close()


async def test_after_forget_nothing_names_her(bot: BotUnderTest) -> None:
    await live_through_it(bot)
    assert await rows_that_name_her() != []  # the search finds her before
    assert [k for k, v in await kv_entries(bot) if carries_her(k) or carries_her(v)] != []

    await bot.app.forget(HER)
    await bot.app.interactions.flush()
    await bot.app.outbox.persist()

    # A kick of her still waiting to go stays (like the ban, it must happen); nothing else.
    waiting = {
        f"outbox_message.payload #{row.id}"
        for row in await OutboxMessage.filter(action="kick", status__in=("pending", "sending"))
    }
    assert [r for r in await rows_that_name_her() if r.split(":")[0] not in waiting] == []
    left = [k for k, v in await kv_entries(bot) if carries_her(k) or carries_her(v)]
    assert left == [], left  # flood windows deleted, repeat windows keyed by a digest
    assert await GuardBan.filter(contact_id=HER).exists()  # the ban outlives her data
    # The group keeps its record: the welcome is still there, naming only the other one.
    sends = await OutboxMessage.filter(action="say").values_list("payload", flat=True)
    (welcome,) = [p for p in sends if "欢迎" in p["text"]]  # type: ignore[index]
    assert welcome["mentions"] == ["wxid_lan"]  # type: ignore[index]
    assert f"@{privacy.FORGOTTEN_NAME} @小兰" in welcome["text"]  # type: ignore[index]

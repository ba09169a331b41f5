"""Feature modules: a feature declares its handlers with filters, work kinds, start and
forget hooks in one place, and the app is assembled from the list. Adding one is a
module and one line; its parts run through the real dispatcher, queue and forget."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.app import FEATURES
from bot.config import CONTENT_FILES
from bot.events import MemberJoined, MessageReceived, MessageType
from bot.features import Feature, On, Platform
from bot.handler import Context, Flow
from bot.work import Work
from handlers.guard.feature import GuardModel
from storage.db import Database
from storage.kv import KV
from tests.harness import REPO, BotUnderTest


class Recorder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[str] = []

    async def handle(self, event: Any, ctx: Context) -> Flow | None:
        self.seen.append(getattr(event, "text", type(event).__name__))
        return None


def note_feature(store: dict[str, Any]) -> Any:
    """A feature the app has never heard of: a handler for group text only, a work kind,
    a start hook that plans it, and a forget hook."""

    def factory(p: Platform) -> Feature:
        handler = Recorder("notes")
        store["handler"] = handler

        async def run(item: Work) -> None:
            store.setdefault("ran", []).append(item.payload["n"])

        async def start() -> None:
            assert p.services.work is not None
            at = p.services.clock.now() + timedelta(hours=1)
            await p.services.work.schedule("note", "note:1", at, payload={"n": 1})

        async def forget(contact: str, kv: KV | None) -> dict[str, int]:
            store.setdefault("forgot", []).append(contact)
            return {"notes": 1}

        return Feature(
            name="notes",
            handlers=[(handler, On((MessageReceived,), chat="group", types=(MessageType.TEXT,)))],
            work={"note": run},
            start=start,
            forget=forget,
        )

    return factory


async def test_a_new_feature_is_one_line_in_the_list() -> None:
    store: dict[str, Any] = {}
    features = {**FEATURES, "notes": note_feature(store)}
    async with BotUnderTest(features=features) as bot:
        bot.room("R1", "孕妈交流群", "owner1", ["owner1", "a"])
        await bot.says("a", "早上好", room="R1")
        await bot.says("a", "私聊一句")  # a DM: the filter keeps it away
        await bot.says("a", "[图片]", room="R1", type=MessageType.IMAGE)
        assert store["handler"].seen == ["早上好"]
        await bot.tick("2h")
        assert store["ran"] == [1]
        done = await bot.app.forget("a")
        assert store["forgot"] == ["a"] and done["notes.notes"] == 1
        assert "guard.warnings" in done and "dialogs.state" in done  # the built-in hooks


async def test_every_content_file_is_owned_by_one_feature_with_its_model() -> None:
    async with BotUnderTest() as bot:
        owners: dict[str, list[str]] = {}
        for feature in bot.app.features:
            for filename, model in feature.content.items():
                assert CONTENT_FILES.get(filename) is model, (feature.name, filename)
                owners.setdefault(filename, []).append(feature.name)
    assert sorted(owners) == sorted(CONTENT_FILES)
    assert all(len(names) == 1 for names in owners.values()), owners


def test_the_filter_checks_event_chat_and_message_type() -> None:
    at = datetime.fromisoformat("2026-11-25T09:00:00+08:00")
    group_text = MessageReceived(
        event_id="e1", account_id="a", at=at, sender_id="c", text="hi", room="R1"
    )
    dm_text = MessageReceived(event_id="e2", account_id="a", at=at, sender_id="c", text="hi")
    dm_image = MessageReceived(
        event_id="e3", account_id="a", at=at, sender_id="c", text="", type=MessageType.IMAGE
    )
    join = MemberJoined(event_id="e4", account_id="a", at=at, room="R1", member_id="c")
    dm_only = On((MessageReceived,), chat="dm", types=(MessageType.TEXT,))
    assert dm_only.accepts(dm_text)
    assert not dm_only.accepts(group_text) and not dm_only.accepts(dm_image)
    assert not dm_only.accepts(join)
    assert On().accepts(join) and On(chat="group").accepts(join)


def test_features_that_need_each_other_in_a_circle_are_refused() -> None:
    def first(p: Platform) -> Feature:
        p.need("second", "x")
        return Feature(name="first")

    def second(p: Platform) -> Feature:
        p.need("first", "x")
        return Feature(name="second")

    platform = Platform(None, set(), REPO / "content", {"first": first, "second": second})  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="circle"):
        platform.build_all()


async def test_a_lesson_taught_at_one_instance_is_learned_by_the_other_once(
    database_url: str,
) -> None:
    db = Database(database_url)
    await db.open()
    await db.truncate_all()
    try:
        here, there = GuardModel(REPO / "content"), GuardModel(REPO / "content")
        text = "周末团购奶粉超低价快来抢购"
        before = there.judge.model.spam_probability(text)
        now = datetime.fromisoformat("2026-11-25T09:00:00+08:00")
        await here.teach("spam", text, "admin1", now)
        assert await here.sync() == 0  # its own lesson is not learned twice
        taught_here = here.judge.model.spam_probability(text)
        assert await there.sync() == 1
        assert there.judge.model.spam_probability(text) == pytest.approx(taught_here)
        assert there.judge.model.spam_probability(text) > before
        assert await there.sync() == 0
    finally:
        await db.truncate_all()
        await db.close()

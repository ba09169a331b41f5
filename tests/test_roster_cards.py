"""The ids on a mother's contact card (phone, unionid, WeCom external id), which orders
name her by: recorded when she becomes a friend, and backfilled by the daily roster sync
for friends from before, one card a friend a day and a bounded number a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.channels.base import ChannelError, ContactInfo
from handlers import roster
from storage import orders as order_store
from storage.models import Contact
from tests.harness import START, BotUnderTest, copy_project


async def friend(contact_id: str, **ids: str) -> None:
    """A friend recorded before cards were read (no ids)."""
    await Contact.create(
        contact_id=contact_id, name=contact_id, is_friend=True, first_seen_at=START,
        updated_at=START, **ids,
    )  # fmt: skip


def cards(bot: BotUnderTest, shown: dict[str, dict[str, str]], asked: list[str]) -> None:
    """The sim account's contact cards show `shown` (id -> extra); `asked` logs lookups."""
    (channel,) = bot.app.sim_channels()

    async def contact_info(contact_id: str) -> ContactInfo | None:
        asked.append(contact_id)
        if contact_id not in shown:
            return None
        return ContactInfo(contact_id, contact_id, shown[contact_id])

    channel.contact_info = contact_info  # type: ignore[method-assign]


async def ids_of(contact_id: str) -> tuple[str | None, str | None, str | None]:
    c = await Contact.get(contact_id=contact_id)
    return c.phone, c.unionid, c.external_id


async def test_a_new_friends_card_gives_her_ids(tmp_path: Path) -> None:
    async with BotUnderTest(copy_project(tmp_path)) as bot:
        asked: list[str] = []
        cards(bot, {"wm_new": {"phone": "+86 13800000001", "unionid": "u_new",
                               "external_id": "wm_new"}}, asked)  # fmt: skip
        await bot.friend_request("wm_new", "小红", "你好")
        assert await ids_of("wm_new") == ("13800000001", "u_new", "wm_new")


async def test_the_daily_sync_backfills_friends_from_before(tmp_path: Path) -> None:
    async with BotUnderTest(copy_project(tmp_path)) as bot:
        await friend("old1")
        await friend("old2", phone="13800000002", unionid="u2", external_id="wm2")  # complete
        await friend("old3")
        await Contact.create(contact_id="stranger", first_seen_at=START, updated_at=START)
        asked: list[str] = []
        cards(bot, {"old1": {"phone": "13800000001", "unionid": "u1"},
                    "old3": {"phone": "", "alias": "x"}}, asked)  # fmt: skip
        # An order of old1's waits for her phone.
        await order_store.upsert(
            [order_store.OrderInput("P1", 100, START, phone="13800000001")], "api", START
        )
        await bot.tick("1h")  # today's run (04:30 has passed: it runs at the start)
        # Friends with an id missing, once each; a complete one and a non-friend not at all.
        assert asked == ["old1", "old3"]
        assert await ids_of("old1") == ("13800000001", "u1", None)
        assert await ids_of("old3") == (None, None, None)
        assert await order_store.orders_of("old1") == []  # linked by the next RFM run
        await bot.tick("1d")
        assert asked == ["old1", "old3", "old1", "old3"]  # still missing: once a day
        assert [o["order_id"] for o in await order_store.orders_of("old1")] == ["P1"]


async def test_the_daily_sync_reads_a_bounded_number_of_cards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roster, "CARD_LOOKUPS", 2)
    async with BotUnderTest(copy_project(tmp_path)) as bot:
        for name in ("f1", "f2", "f3"):
            await friend(name)
        asked: list[str] = []
        cards(bot, {n: {"phone": ""} for n in ("f1", "f2", "f3")}, asked)
        await bot.tick("1h")
        assert asked == ["f1", "f2"]  # the bound
        await bot.tick("1d")
        assert asked == ["f1", "f2", "f3"]  # goes on where it stopped, then starts over
        await bot.tick("1d")
        assert asked == ["f1", "f2", "f3", "f1", "f2"]


async def test_an_account_that_cannot_give_cards_is_not_asked_again_that_day(
    tmp_path: Path,
) -> None:
    async with BotUnderTest(copy_project(tmp_path)) as bot:
        await friend("f1")
        await friend("f2")
        (channel,) = bot.app.sim_channels()
        asked: list[str] = []

        async def down(contact_id: str) -> ContactInfo | None:
            asked.append(contact_id)
            raise ChannelError("ContactPayload: UNAVAILABLE")

        channel.contact_info = down  # type: ignore[method-assign]
        await bot.tick("1h")
        assert asked == ["f1"]
        cards(bot, {"f1": {"phone": "13800000001"}, "f2": {"phone": "13800000002"}}, asked)
        await bot.tick("1d")  # back up: the friend it could not read first
        assert asked == ["f1", "f1", "f2"]
        assert (await ids_of("f2"))[0] == "13800000002"

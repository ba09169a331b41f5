"""The one room selector: by id, exact group name and room tag."""

from __future__ import annotations

from datetime import datetime

from bot.channels.base import RoomInfo
from bot.clock import FakeClock
from bot.config import AppConfig, RoomSection
from bot.rooms import RoomDirectory
from bot.selector import RoomSelector

AT = datetime.fromisoformat("2026-11-25T09:00:00+08:00")


def test_names_are_ids_or_exact_group_names() -> None:
    selector = RoomSelector(["R1", "孕妈交流群"])
    assert selector.selects("R1")
    assert selector.selects("R9", "孕妈交流群")
    assert not selector.selects("R9", "孕妈交流群2")  # exact names only
    assert not selector.selects("R9", "")
    assert not RoomSelector([""]).selects("R9", "")  # an unknown name is no name


def test_tags_and_names_must_both_hold_and_an_empty_selector_selects_nothing() -> None:
    tagged = RoomSelector(tags=["孕妈群"])
    assert tagged.selects("R1", "x", ["孕妈群", "北京"])
    assert not tagged.selects("R1", "x", ["北京"])
    both = RoomSelector(["R1"], ["孕妈群"])
    assert both.selects("R1", "", ["孕妈群"])
    assert not both.selects("R1", "", [])
    assert not both.selects("R2", "", ["孕妈群"])
    assert RoomSelector().empty and not RoomSelector().selects("R1", "x", ["孕妈群"])


class Channel:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def room_info(self, room_id: str) -> RoomInfo:
        self.asked.append(room_id)
        return RoomInfo(room_id, "孕妈交流群", "o")


async def test_the_directory_asks_the_channel_only_when_the_id_does_not_decide() -> None:
    config = AppConfig(rooms=[RoomSection(match="孕妈交流群", tags=["孕妈群"])])
    channel = Channel()
    rooms = RoomDirectory(config, FakeClock(AT), {"acc": channel})  # type: ignore[dict-item]
    assert await rooms.selects("acc", "R1", RoomSelector(["R1"]))
    assert channel.asked == []
    assert await rooms.selects("acc", "R2", RoomSelector(["孕妈交流群"]))
    assert await rooms.selects("acc", "R3", RoomSelector(tags=["孕妈群"]))
    assert not await rooms.selects("acc", "R3", RoomSelector(tags=["北京"]))
    assert not await rooms.selects("acc", "R1", RoomSelector())
    # Only where the id does not decide; the channel itself caches room facts.
    assert channel.asked == ["R2", "R3", "R3"]

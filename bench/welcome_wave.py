"""A join wave: 10,000 members join one group within a minute (a livestream's fans group).

The joins go through the real app (simulator channel, SQLite in a temporary folder, the
in-process key-value store) on a fake clock that walks through the minute as they arrive,
every `--batch` joins the app settles, and the batched welcomes run when their window
closes. Wall time covers everything: dispatching, parking, the work rows, the welcomes
and their sends. Prints, last:

    welcome wave: <N> joins/s (<joins> joins in <s> s)
    welcomes: <n> messages, longest <chars> chars, at most <m> @mentions
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import App, AppSettings
from bot.channels.sim import SimChannel, SimWorld
from bot.clock import FakeClock

REPO = Path(__file__).resolve().parent.parent
START = datetime(2026, 11, 25, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a livestream night
ROOM = "fans@chatroom"


async def wave(tmp: Path, joins: int, seconds: float, batch: int) -> tuple[float, list[Any]]:
    shutil.copytree(REPO / "content", tmp / "content")
    shutil.copy(REPO / "config.toml", tmp / "config.toml")
    clock = FakeClock(START)
    world = SimWorld()
    world.add_room(ROOM, "直播粉丝福利群", "owner", ["owner"])
    app = App.build(
        AppSettings(
            base_dir=tmp,
            database_url=f"sqlite://{tmp}/bench.sqlite3",
            redis_url="",
            clock=clock,
            seed=1,
        ),
        world=world,
    )
    welcomes: list[Any] = []
    app.action_observers.append(
        lambda a: welcomes.append(a) if a["action"] == "say" and a["room"] == ROOM else None
    )
    await app.open()
    channel = next(iter(app.channels.values()))
    assert isinstance(channel, SimChannel)
    start = time.perf_counter()
    for i in range(joins):
        clock.set(START + timedelta(seconds=seconds * i / joins))
        app.feed(channel.join(ROOM, f"wxid_fan{i:05d}", f"粉丝{i:05d}宝妈"))
        if (i + 1) % batch == 0:
            await app.settle()
    await app.advance_to(clock.now() + timedelta(minutes=5))  # the last windows close
    elapsed = time.perf_counter() - start
    await app.stop(timeout=5)
    return elapsed, welcomes


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--joins", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="the wave's length")
    parser.add_argument("--batch", type=int, default=100, help="joins per settle")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        elapsed, welcomes = await wave(Path(tmp), args.joins, args.seconds, args.batch)
    longest = max((len(w["text"]) for w in welcomes), default=0)
    most = max((len(w["mentions"]) for w in welcomes), default=0)
    print(
        f"welcome wave: {args.joins / elapsed:.0f} joins/s ({args.joins} joins in {elapsed:.1f} s)"
    )
    print(f"welcomes: {len(welcomes)} messages, longest {longest} chars, at most {most} @mentions")


if __name__ == "__main__":
    asyncio.run(main())

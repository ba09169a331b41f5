"""`mamabot replay SCRIPT.jsonl`: run a scripted conversation, print what the bot did.

This input and output format is a public contract (ops test their content with it):
input lines are applied in order, the clock only moves forward, due work runs as time
passes; every bot action is printed as one JSON line with its time. After the last line the
clock moves on through short pending work (batched welcomes, retries) so nothing is left
half-done, but never further than SETTLE_HORIZON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.app import App
from bot.channels.sim import SimChannel
from bot.clock import FakeClock
from bot.events import MessageType
from storage import people

SETTLE_HORIZON = timedelta(minutes=10)
KINDS = ("room", "join", "leave", "message", "friend_request", "tick")
_REQUIRED: dict[str, tuple[str, ...]] = {
    "room": ("id",),
    "join": ("room", "contact"),
    "leave": ("room", "contact"),
    "message": ("from", "text"),
    "friend_request": ("from",),
    "tick": ("at",),
}


class ReplayError(Exception):
    def __init__(self, line_no: int, message: str) -> None:
        super().__init__(f"line {line_no}: {message}")
        self.line_no = line_no


@dataclass(frozen=True)
class Step:
    line_no: int
    kind: str
    data: dict[str, Any]
    at: datetime | None


def _str_field(step: dict[str, Any], key: str, line_no: int, required: bool = False) -> str | None:
    value = step.get(key)
    if value is None:
        if required:
            raise ReplayError(line_no, f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise ReplayError(line_no, f"'{key}' must be a string, got {type(value).__name__}")
    return value


def parse_script(lines: Iterable[str]) -> list[Step]:
    steps = []
    for line_no, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReplayError(line_no, f"not valid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise ReplayError(line_no, "each line must be a JSON object")
        kind = data.get("kind")
        if kind not in KINDS:
            raise ReplayError(line_no, f"'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
        for key in _REQUIRED[kind]:
            _str_field(data, key, line_no, required=True)
        at = None
        at_text = _str_field(data, "at", line_no)
        if at_text is not None:
            try:
                at = datetime.fromisoformat(at_text)
            except ValueError:
                raise ReplayError(line_no, f"'at' is not an ISO 8601 time: {at_text!r}") from None
            if at.tzinfo is None:
                raise ReplayError(line_no, f"'at' needs a UTC offset, e.g. +08:00: {at_text!r}")
        if kind == "message":
            mtype = data.get("type", "text")
            if mtype not in {t.value for t in MessageType} - {"unknown", "emoticon"}:
                raise ReplayError(line_no, f"unknown message type {mtype!r}")
            mentions = data.get("mentions", [])
            if not isinstance(mentions, list) or not all(isinstance(m, str) for m in mentions):
                raise ReplayError(line_no, "'mentions' must be a list of contact ids")
        if kind == "room":
            members = data.get("members", [])
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise ReplayError(line_no, "'members' must be a list of contact ids")
        steps.append(Step(line_no, kind, data, at))
    return steps


async def run_script(app: App, steps: list[Step], emit: Callable[[dict[str, Any]], None]) -> None:
    """Apply the steps to an opened app in driven mode; `emit` gets every action."""
    clock = app.clock
    if not isinstance(clock, FakeClock):
        raise TypeError("replay needs a FakeClock")
    channel = app.sim_channels()[0]
    app.action_observers.append(emit)
    for step in steps:
        if step.at is not None and step.at > clock.now():
            await app.advance_to(step.at)
        await apply_step(app, channel, step)
        await app.settle()
    horizon = clock.now() + SETTLE_HORIZON
    while True:
        due = await app.next_due()
        # Past the horizon nothing short is pending; at or before now, waiting won't help.
        if due is None or due > horizon or due <= clock.now():
            break
        await app.advance_to(due)
    await app.interactions.flush()


async def apply_step(app: App, channel: SimChannel, step: Step) -> None:
    d = step.data
    world = channel.world
    if step.kind == "room":
        room = world.add_room(d["id"], d.get("topic", ""), d.get("owner"), d.get("members", []))
        await people.upsert_room(
            room.room_id,
            channel.account_id,
            app.clock.now(),
            topic=room.topic,
            owner_id=room.owner_id,
        )
    elif step.kind == "join":
        if d["room"] not in world.rooms:
            world.add_room(d["room"], "", None)
        channel.push(channel.join(d["room"], d["contact"], d.get("name", ""), d.get("inviter")))
    elif step.kind == "leave":
        if d["room"] in world.rooms:
            channel.push(channel.leave(d["room"], d["contact"], d.get("remover")))
    elif step.kind == "message":
        room_id = d.get("room")
        if room_id is not None and room_id not in world.rooms:
            world.add_room(room_id, "", None, [d["from"]])
        if d.get("name"):
            world.add_contact(d["from"], d["name"])
        channel.push(
            channel.message(
                d["from"],
                d["text"],
                room_id=room_id,
                type=MessageType.parse(d.get("type")),
                mentions=d.get("mentions", []),
            )
        )
    elif step.kind == "friend_request":
        channel.push(channel.friend_request(d["from"], d.get("name", ""), d.get("hello", "")))
    elif step.kind == "tick":
        pass  # the clock already moved to `at`


def to_json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))

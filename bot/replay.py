"""`mamabot replay SCRIPT.jsonl`: run a scripted conversation, print what the bot did.

This input and output format is a public contract (ops test their content with it):
input lines are applied in order, the clock only moves forward, due work runs as time
passes; every bot action is printed as one JSON line with its time. After the last line the
clock moves on through short pending work (batched welcomes, retries) so nothing is left
half-done, but never further than SETTLE_HORIZON.

A `click` line opens a tracked link by its token, as her phone would (`"from"`: who
clicked, default the contact it was sent to). A seeded app makes the same tokens every run,
so a script can name the token a `say` printed (`<public base URL>/l/<token>`). A click
prints nothing itself: the tags it adds print as `tag` actions. A token no link has stops
the replay with a `line N` error: the script expects a link the bot never sent.

A script is checked whole before anything runs: hostile or mistaken input (a field of the
wrong JSON type, an empty or oversized id, JSON nested past the parser's stack, an integer
of thousands of digits, a time the clock cannot reach or would need hours to walk to) is a
`line N: ...` error, never a traceback or a hang.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.fields import CharField
from tortoise.models import Model

from bot.app import App
from bot.channels.sim import SimChannel
from bot.clock import FakeClock
from bot.events import MessageType
from bot.text import storable
from handlers.links import clicks_in, well_formed
from storage import people
from storage.models import Contact, Room

SETTLE_HORIZON = timedelta(minutes=10)
KINDS = ("room", "join", "leave", "message", "friend_request", "unfriend", "tick", "click")
_REQUIRED: dict[str, tuple[str, ...]] = {
    "room": ("id",),
    "join": ("room", "contact"),
    "leave": ("room", "contact"),
    "message": ("from", "text"),
    "friend_request": ("from",),
    "unfriend": ("from",),
    "tick": ("at",),
    "click": ("token",),
}
# Every string field a kind reads: ids name a contact or a room and must fit the id columns;
# texts are free text, made storable here, at the edge, as the channels do.
_IDS: dict[str, tuple[str, ...]] = {
    "room": ("id", "owner"),
    "join": ("room", "contact", "inviter"),
    "leave": ("room", "contact", "remover"),
    "message": ("from", "room"),
    "friend_request": ("from",),
    "unfriend": ("from",),
    "tick": (),
    "click": ("from",),
}
_TEXTS: dict[str, tuple[str, ...]] = {
    "room": ("topic",),
    "join": ("name",),
    "leave": (),
    "message": ("text", "name", "type"),
    "friend_request": ("name", "hello"),
    "unfriend": (),
    "tick": (),
    "click": (),
}
_ID_LISTS: dict[str, str] = {"room": "members", "message": "mentions"}


def _column_size(model: type[Model], name: str) -> int:
    column = model._meta.fields_map[name]
    assert isinstance(column, CharField)
    return column.max_length


# An id or a name that does not fit its column would make the bot's own writes fail.
MAX_ID = min(_column_size(Contact, "contact_id"), _column_size(Room, "room_id"))
MAX_NAME = min(_column_size(Contact, "name"), _column_size(Room, "topic"))
_NAMES = ("name", "topic")
# The clock runs every daily job it passes, so a jump of a century would take hours; and
# a time near the calendar's ends overflows the clock's own arithmetic.
YEARS = range(2000, 2100)
MAX_SPAN = timedelta(days=3653)  # ten years after the script's first time
MAX_INT_DIGITS = 30  # no field is a number; a longer one is junk, not worth converting


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


def _check_id(value: str, what: str, line_no: int) -> None:
    if not value.strip():
        raise ReplayError(line_no, f"{what} must not be empty")
    if len(value) > MAX_ID:
        raise ReplayError(line_no, f"{what} is {len(value)} characters long, at most {MAX_ID}")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise ReplayError(line_no, f"{what} holds a control character or a lone surrogate")


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"a number of {len(digits)} digits")
    return int(digits)


def _load_json(line: str, line_no: int) -> Any:
    try:
        return json.loads(line, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise ReplayError(line_no, f"not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise ReplayError(line_no, "not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise ReplayError(line_no, f"not valid JSON: {exc}") from None


def _parse_at(at_text: str, line_no: int) -> datetime:
    try:
        at = datetime.fromisoformat(at_text)
    except ValueError:
        raise ReplayError(line_no, f"'at' is not an ISO 8601 time: {at_text!r}") from None
    if at.tzinfo is None:
        raise ReplayError(line_no, f"'at' needs a UTC offset, e.g. +08:00: {at_text!r}")
    if at.year not in YEARS:
        raise ReplayError(line_no, f"'at' must be in the years {YEARS[0]}-{YEARS[-1]}: {at_text!r}")
    return at


def _check_fields(data: dict[str, Any], kind: str, line_no: int) -> None:
    """Types and sizes of every field the kind reads; texts are made storable in place."""
    for key in _IDS[kind]:
        value = _str_field(data, key, line_no)
        if value is not None:
            _check_id(value, f"'{key}'", line_no)
    for key in _TEXTS[kind]:
        value = _str_field(data, key, line_no)
        if value is None:
            continue
        if key in _NAMES and len(value) > MAX_NAME:
            raise ReplayError(
                line_no, f"'{key}' is {len(value)} characters long, at most {MAX_NAME}"
            )
        data[key] = storable(value)
    list_key = _ID_LISTS.get(kind)
    if list_key is not None:
        values = data.get(list_key, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ReplayError(line_no, f"'{list_key}' must be a list of contact ids")
        for value in values:
            _check_id(value, f"an id in '{list_key}'", line_no)


def parse_script(lines: Iterable[str]) -> list[Step]:
    steps = []
    first_at: datetime | None = None
    for line_no, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        data = _load_json(line, line_no)
        if not isinstance(data, dict):
            raise ReplayError(line_no, "each line must be a JSON object")
        kind = data.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            raise ReplayError(line_no, f"'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
        for key in _REQUIRED[kind]:
            _str_field(data, key, line_no, required=True)
        _check_fields(data, kind, line_no)
        at = None
        at_text = _str_field(data, "at", line_no)
        if at_text is not None:
            at = _parse_at(at_text, line_no)
            first_at = first_at or at
            if at - first_at > MAX_SPAN:
                raise ReplayError(
                    line_no,
                    f"'at' is more than {MAX_SPAN.days // 365} years after the script's "
                    f"first time ({first_at.isoformat()}): {at_text!r}",
                )
        if kind == "click" and not well_formed(data["token"]):
            raise ReplayError(
                line_no, "'token' must be a link token: 1-64 letters, digits, '-' or '_'"
            )
        if kind == "message":
            mtype = data.get("type", "text")
            if mtype not in {t.value for t in MessageType} - {"unknown", "emoticon"}:
                raise ReplayError(line_no, f"unknown message type {mtype!r}")
        steps.append(Step(line_no, kind, data, at))
    return steps


async def run_script(app: App, steps: list[Step], emit: Callable[[dict[str, Any]], None]) -> None:
    """Apply the steps to an opened app in driven mode; `emit` gets every action."""
    clock = app.clock
    if not isinstance(clock, FakeClock):
        raise TypeError("replay needs a FakeClock")
    channel = app.sim_channels()[0]
    app.action_observers.append(emit)
    line_no = 0
    try:
        for step in steps:
            line_no = step.line_no
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
    except ReplayError:
        raise
    except Exception as exc:
        # A line parse_script let through but the bot could not take is our bug: the
        # script's author still learns which line, and the trace goes to the log.
        raise ReplayError(line_no, f"stopped: {type(exc).__name__}: {exc}") from exc


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
    elif step.kind == "unfriend":
        channel.push(channel.friend_removed(d["from"]))
    elif step.kind == "click":
        await _click(app, step)
    elif step.kind == "tick":
        pass  # the clock already moved to `at`


async def _click(app: App, step: Step) -> None:
    token = step.data["token"]
    if await clicks_in(app.features).click(token, step.data.get("from")) is None:
        raise ReplayError(step.line_no, f"no tracked link has the token {token!r}")


def to_json_line(record: dict[str, Any]) -> str:
    # A lone surrogate would stop the print (UTF-8 cannot encode it): the line says U+FFFD.
    return storable(json.dumps(record, ensure_ascii=False, separators=(",", ":")))

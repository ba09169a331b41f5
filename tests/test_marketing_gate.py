"""The guard rails of marketing sends: quiet hours, the send window, the daily and weekly
caps counted from the ledger, opt-out, and a retried send counted once."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.clock import FakeClock
from bot.config import MarketingSection, parse_window
from bot.marketing import MarketingGate
from storage import people, privacy
from storage.db import Database
from storage.kv import MemoryKV
from storage.models import Contact

SH = ZoneInfo("Asia/Shanghai")
WINDOW = parse_window("09:00-21:00")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SH)


def gate(start: datetime, **cfg: object) -> tuple[MarketingGate, FakeClock]:
    clock = FakeClock(start, tz=SH)
    return MarketingGate(MarketingSection(**cfg), clock, MemoryKV(clock)), clock  # type: ignore[arg-type]


def test_quiet_hours_over_midnight_move_a_send_to_their_end() -> None:
    g, _ = gate(at(1, 12))
    assert g.next_allowed(at(1, 21, 29)) == at(1, 21, 29)
    assert g.next_allowed(at(1, 21, 30)) == at(2, 8, 30)
    assert g.next_allowed(at(2, 3, 0)) == at(2, 8, 30)
    assert g.next_allowed(at(2, 8, 30)) == at(2, 8, 30)


def test_a_window_inside_the_day_and_the_quiet_hours_together() -> None:
    g, _ = gate(at(1, 12))
    assert g.next_allowed(at(2, 8, 40), WINDOW) == at(2, 9, 0)  # quiet ended, window not yet
    assert g.next_allowed(at(1, 21, 0), WINDOW) == at(2, 9, 0)  # window closed at 21:00
    assert g.next_allowed(at(1, 20, 59), WINDOW) == at(1, 20, 59)
    late = parse_window("20:00-23:00")  # its end lies in the quiet hours
    assert g.next_allowed(at(1, 21, 45), late) == at(2, 20, 0)


async def test_the_daily_cap_waits_for_the_next_day_and_a_retry_counts_once(db: Database) -> None:
    g, clock = gate(at(1, 10))
    first = await g.reserve("mom", "k1", "seq:a:1", WINDOW)
    again = await g.reserve("mom", "k1", "seq:a:1", WINDOW)  # the same row, retried
    second = await g.reserve("mom", "k2", "seq:b:1", WINDOW)
    assert [first.verdict, again.verdict, second.verdict] == ["go", "go", "go"]
    third = await g.reserve("mom", "k3", "seq:c:1", WINDOW)
    assert third.verdict == "wait" and third.at == at(2, 9, 0)
    other = await g.reserve("other", "k4", "seq:c:1", WINDOW)  # her cap is hers alone
    assert other.verdict == "go"
    clock.set(at(2, 9, 0))
    assert (await g.reserve("mom", "k3", "seq:c:1", WINDOW)).verdict == "go"


async def test_the_weekly_cap_waits_until_the_oldest_send_is_a_week_old(db: Database) -> None:
    g, clock = gate(at(1, 10), daily_cap=0, weekly_cap=3)
    for n, day in enumerate((1, 2, 3)):
        clock.set(at(day, 10))
        assert (await g.reserve("mom", f"w{n}", "seq:a:1")).verdict == "go"
    clock.set(at(4, 10))
    held = await g.reserve("mom", "w3", "seq:a:1")
    assert held.verdict == "wait" and held.at == at(8, 10) + timedelta(0)
    clock.set(at(8, 10, 1))
    assert (await g.reserve("mom", "w3", "seq:a:1")).verdict == "go"


async def test_opted_out_is_skipped_and_nothing_is_counted(db: Database) -> None:
    g, clock = gate(at(1, 10))
    await privacy.opt_out("mom", clock.now())
    assert (await g.reserve("mom", "k1", "seq:a:1")).verdict == "skip"
    await privacy.opt_in("mom", clock.now())
    assert (await g.reserve("mom", "k1", "seq:a:1")).verdict == "go"


async def test_two_callers_at_once_cannot_both_pass_a_full_cap(db: Database) -> None:
    """The check and the ledger entry happen under her lock: while another holds it, the
    step waits a few seconds instead of counting past the cap."""
    g, clock = gate(at(1, 10), daily_cap=1)
    token = await g.kv.acquire_lock("marketing:mom", ttl=30)
    assert token
    busy = await g.reserve("mom", "k1", "seq:a:1")
    assert busy.verdict == "wait" and busy.at is not None and busy.at > clock.now()
    await g.kv.release_lock("marketing:mom", token)
    assert (await g.reserve("mom", "k1", "seq:a:1")).verdict == "go"
    assert (await g.reserve("mom", "k2", "seq:a:2")).verdict == "wait"


async def test_a_friend_who_deleted_the_bot_is_held_until_she_adds_it_again(
    db: Database,
) -> None:
    await people.upsert_contact("c", at(1, 9), is_friend=True)
    assert await privacy.can_market("c")
    assert await people.friend_lost("c", at(1, 10))
    assert not await people.friend_lost("c", at(1, 11))  # told twice: one change
    contact = await Contact.get(contact_id="c")
    assert (contact.is_friend, contact.unfriended_at) == (False, at(1, 10))
    assert not await privacy.can_market("c")
    await people.upsert_contact("c", at(2, 9), is_friend=True)  # she added the bot again
    assert await privacy.can_market("c")
    assert (await Contact.get(contact_id="c")).unfriended_at is None

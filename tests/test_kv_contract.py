"""The KV contract, run against the in-process store and real Redis alike.

Time only moves through `FakeClock.advance`: both backends must expire by the injected
clock, so nothing here sleeps or depends on Redis's own clock.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from bot.clock import FakeClock
from storage.kv import KV, MemoryKV
from storage.kv_backend import make_kv
from storage.kv_redis import GC_MARGIN, RedisKV
from tests import services

AT = datetime.fromisoformat("2026-11-25T09:00:00+08:00")
DAY = 86400.0

# What each backend raises when a value key is read as a window or the other way round.
WRONG_KIND = (TypeError, ResponseError)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(AT)


def _redis_kv(clock: FakeClock) -> RedisKV:
    return RedisKV(services.redis_url(), clock, prefix=f"mamabot-test:{uuid.uuid4().hex}:")


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[KV]:
    if request.param == "memory":
        store: KV = MemoryKV(clock)
        yield store
        await store.close()
        return
    redis_store = _redis_kv(clock)
    try:
        yield redis_store
    finally:
        await redis_store.flush_prefix()
        await redis_store.close()


@pytest.fixture
async def redis_kv(clock: FakeClock) -> AsyncIterator[RedisKV]:
    store = _redis_kv(clock)
    try:
        yield store
    finally:
        await store.flush_prefix()
        await store.close()


# ---------------------------------------------------------------------- plain values


async def test_get_set_delete(kv: KV) -> None:
    assert await kv.get("k") is None
    await kv.set("k", "one")
    assert await kv.get("k") == "one"
    await kv.set("k", "two")
    assert await kv.get("k") == "two"
    assert await kv.get("other") is None
    assert await kv.delete("k") is True
    assert await kv.get("k") is None
    assert await kv.delete("k") is False
    assert await kv.delete("never-set") is False


async def test_empty_string_is_a_value_not_a_miss(kv: KV) -> None:
    await kv.set("empty", "")
    assert await kv.get("empty") == ""
    assert await kv.set_if_absent("empty", "x") is False
    assert await kv.delete("empty") is True


async def test_set_with_ttl_expires_on_the_injected_clock(kv: KV, clock: FakeClock) -> None:
    await kv.set("k", "v", ttl=10)
    clock.advance(9.999)
    assert await kv.get("k") == "v"
    clock.advance(0.001)  # exactly at the expiry: gone
    assert await kv.get("k") is None
    assert await kv.ttl("k") is None
    assert await kv.delete("k") is False


async def test_expiry_after_a_three_day_jump(kv: KV, clock: FakeClock) -> None:
    await kv.set("short", "v", ttl=2 * DAY)
    await kv.set("long", "v", ttl=4 * DAY)
    await kv.set("forever", "v")
    clock.advance(3 * DAY)
    assert await kv.get("short") is None
    assert await kv.get("long") == "v"
    assert await kv.get("forever") == "v"


async def test_set_replaces_the_earlier_expiry(kv: KV, clock: FakeClock) -> None:
    await kv.set("k", "v1", ttl=10)
    await kv.set("k", "v2")
    clock.advance(3 * DAY)
    assert await kv.get("k") == "v2"
    assert await kv.ttl("k") is None
    await kv.set("k", "v3", ttl=5)
    clock.advance(5)
    assert await kv.get("k") is None


async def test_ttl_reports_remaining_seconds(kv: KV, clock: FakeClock) -> None:
    assert await kv.ttl("missing") is None
    await kv.set("plain", "v")
    assert await kv.ttl("plain") is None
    await kv.set("k", "v", ttl=60)
    assert await kv.ttl("k") == pytest.approx(60)
    clock.advance(15.5)
    assert await kv.ttl("k") == pytest.approx(44.5)


async def test_invalid_ttl_and_window_are_rejected(kv: KV) -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError):
            await kv.set("k", "v", ttl=bad)
        with pytest.raises(ValueError):
            await kv.set_if_absent("k", "v", ttl=bad)
        with pytest.raises(ValueError):
            await kv.incr("k", ttl=bad)
        with pytest.raises(ValueError):
            await kv.window_hit("w", bad)
        with pytest.raises(ValueError):
            await kv.acquire_lock("l", ttl=bad)
    assert await kv.get("k") is None
    assert await kv.window_count("w", 60) == 0


# ---------------------------------------------------------------------- set_if_absent


async def test_set_if_absent_only_sets_once(kv: KV) -> None:
    assert await kv.set_if_absent("evt:1", "first") is True
    assert await kv.set_if_absent("evt:1", "second") is False
    assert await kv.get("evt:1") == "first"
    assert await kv.delete("evt:1") is True
    assert await kv.set_if_absent("evt:1", "third") is True
    assert await kv.get("evt:1") == "third"


async def test_set_if_absent_succeeds_again_after_expiry(kv: KV, clock: FakeClock) -> None:
    assert await kv.set_if_absent("evt:1", "a", ttl=30) is True
    clock.advance(20)
    # A refused attempt must not push the expiry back.
    assert await kv.set_if_absent("evt:1", "b", ttl=30) is False
    clock.advance(10)
    assert await kv.get("evt:1") is None
    assert await kv.set_if_absent("evt:1", "c", ttl=30) is True
    assert await kv.get("evt:1") == "c"
    assert await kv.ttl("evt:1") == pytest.approx(30)
    clock.advance(29)
    assert await kv.set_if_absent("evt:1", "d") is False


async def test_set_if_absent_without_ttl_replaces_an_expired_key_for_good(
    kv: KV, clock: FakeClock
) -> None:
    await kv.set("k", "old", ttl=1)
    clock.advance(1)
    assert await kv.set_if_absent("k", "new") is True
    clock.advance(3 * DAY)
    assert await kv.get("k") == "new"  # the old key's expiry did not carry over


async def test_concurrent_set_if_absent_has_exactly_one_winner(kv: KV) -> None:
    results = await asyncio.gather(*(kv.set_if_absent("race", str(i), ttl=60) for i in range(20)))
    assert results.count(True) == 1
    winner = results.index(True)
    assert await kv.get("race") == str(winner)


# ---------------------------------------------------------------------- counters


async def test_incr_counts_up_and_down(kv: KV) -> None:
    assert await kv.incr("n") == 1
    assert await kv.incr("n") == 2
    assert await kv.incr("n", 5) == 7
    assert await kv.incr("n", -3) == 4
    assert await kv.get("n") == "4"
    assert await kv.incr("other", 10) == 10


async def test_incr_is_a_fixed_window_counter(kv: KV, clock: FakeClock) -> None:
    assert await kv.incr("sent:today", ttl=60) == 1
    clock.advance(30)
    assert await kv.incr("sent:today", ttl=60) == 2
    # The ttl only applies when the counter is created: the window is not extended.
    assert await kv.ttl("sent:today") == pytest.approx(30)
    clock.advance(29.5)
    assert await kv.incr("sent:today", ttl=60) == 3
    clock.advance(0.5)
    assert await kv.get("sent:today") is None
    assert await kv.incr("sent:today", ttl=60) == 1  # a new window starts from 0
    assert await kv.ttl("sent:today") == pytest.approx(60)


async def test_incr_ttl_does_not_apply_to_an_existing_counter(kv: KV, clock: FakeClock) -> None:
    assert await kv.incr("n") == 1
    assert await kv.incr("n", ttl=10) == 2
    assert await kv.ttl("n") is None
    clock.advance(3 * DAY)
    assert await kv.incr("n") == 3


async def test_incr_keeps_the_expiry_of_a_set_value(kv: KV, clock: FakeClock) -> None:
    await kv.set("n", "5", ttl=10)
    assert await kv.incr("n") == 6
    assert await kv.ttl("n") == pytest.approx(10)
    clock.advance(10)
    assert await kv.get("n") is None
    assert await kv.incr("n") == 1


async def test_concurrent_incr_loses_no_increments(kv: KV) -> None:
    await asyncio.gather(*(kv.incr("n", ttl=60) for _ in range(50)))
    assert await kv.get("n") == "50"


# ---------------------------------------------------------------------- sliding windows


async def test_sliding_window_counts_and_slides_out(kv: KV, clock: FakeClock) -> None:
    assert await kv.window_hit("rate:c1", 30) == 1  # t=0
    clock.advance(10)
    assert await kv.window_hit("rate:c1", 30) == 2  # t=10
    clock.advance(10)
    assert await kv.window_hit("rate:c1", 30) == 3  # t=20
    clock.advance(10)
    # t=30: the hit at t=0 is exactly one window old and no longer counts.
    assert await kv.window_hit("rate:c1", 30) == 3
    clock.advance(5)
    assert await kv.window_count("rate:c1", 30) == 3  # t=35: hits at 10, 20, 30
    clock.advance(20)
    assert await kv.window_count("rate:c1", 30) == 1  # t=55: only t=30 is left
    clock.advance(5)
    assert await kv.window_count("rate:c1", 30) == 0  # t=60
    assert await kv.window_hit("rate:c1", 30) == 1


async def test_window_survives_only_as_long_as_its_hits(kv: KV, clock: FakeClock) -> None:
    for _ in range(5):
        await kv.window_hit("w", 60)
    clock.advance(3 * DAY)
    assert await kv.window_count("w", 60) == 0
    assert await kv.window_hit("w", 60) == 1


async def test_window_count_does_not_record_a_hit(kv: KV) -> None:
    assert await kv.window_count("w", 60) == 0
    assert await kv.window_count("w", 60) == 0
    assert await kv.window_hit("w", 60) == 1
    assert await kv.window_count("w", 60) == 1
    assert await kv.window_count("w", 60) == 1
    assert await kv.window_hit("w", 60) == 2


async def test_window_members_are_distinct_hits(kv: KV, clock: FakeClock) -> None:
    assert await kv.window_hit("w", 30, member="msg-a") == 1
    assert await kv.window_hit("w", 30, member="msg-a") == 1  # same hit, counted once
    assert await kv.window_hit("w", 30, member="msg-b") == 2
    # Without a member every call is a new hit.
    assert await kv.window_hit("w", 30) == 3
    assert await kv.window_hit("w", 30) == 4
    clock.advance(20)
    assert await kv.window_hit("w", 30, member="msg-a") == 4  # moved to now, not added
    clock.advance(15)
    # t=35: everything from t=0 slid out; msg-a was re-hit at t=20 and stays.
    assert await kv.window_count("w", 30) == 1
    assert await kv.window_hit("w", 30, member="msg-b") == 2


async def test_windows_are_per_key(kv: KV) -> None:
    await kv.window_hit("rate:c1", 60)
    await kv.window_hit("rate:c1", 60)
    assert await kv.window_hit("rate:c2", 60) == 1
    assert await kv.window_count("rate:c1", 60) == 2
    assert await kv.window_count("rate:c3", 60) == 0


async def test_delete_clears_a_window(kv: KV) -> None:
    await kv.window_hit("w", 60)
    await kv.window_hit("w", 60)
    assert await kv.delete("w") is True
    assert await kv.window_count("w", 60) == 0
    assert await kv.window_hit("w", 60) == 1


async def test_value_and_window_keys_do_not_mix(kv: KV) -> None:
    await kv.set("value", "v")
    await kv.window_hit("window", 60)
    with pytest.raises(WRONG_KIND):
        await kv.window_count("value", 60)
    with pytest.raises(WRONG_KIND):
        await kv.get("window")
    assert await kv.get("value") == "v"
    assert await kv.window_count("window", 60) == 1


# ---------------------------------------------------------------------- locks


async def test_lock_excludes_and_only_the_holder_releases(kv: KV) -> None:
    token = await kv.acquire_lock("job:welcome", ttl=60)
    assert isinstance(token, str) and token
    assert await kv.acquire_lock("job:welcome", ttl=60) is None
    assert await kv.release_lock("job:welcome", "not-the-token") is False
    assert await kv.acquire_lock("job:welcome", ttl=60) is None  # still held
    assert await kv.release_lock("job:welcome", token) is True
    assert await kv.release_lock("job:welcome", token) is False
    again = await kv.acquire_lock("job:welcome", ttl=60)
    assert again is not None and again != token


async def test_lock_expiry_frees_it_and_the_old_holder_cannot_release(
    kv: KV, clock: FakeClock
) -> None:
    old = await kv.acquire_lock("job:welcome", ttl=60)
    assert old is not None
    clock.advance(59)
    assert await kv.acquire_lock("job:welcome", ttl=60) is None
    clock.advance(1)
    new = await kv.acquire_lock("job:welcome", ttl=60)
    assert new is not None and new != old
    # The stalled first holder wakes up: it must not free the second holder's lock.
    assert await kv.release_lock("job:welcome", old) is False
    assert await kv.acquire_lock("job:welcome", ttl=60) is None
    assert await kv.release_lock("job:welcome", new) is True


async def test_expired_lock_cannot_be_released(kv: KV, clock: FakeClock) -> None:
    token = await kv.acquire_lock("l", ttl=5)
    assert token is not None
    clock.advance(5)
    assert await kv.release_lock("l", token) is False


async def test_locks_are_per_key_with_unique_tokens(kv: KV) -> None:
    a = await kv.acquire_lock("job:a", ttl=60)
    b = await kv.acquire_lock("job:b", ttl=60)
    assert a is not None and b is not None and a != b
    assert await kv.release_lock("job:a", b) is False
    assert await kv.release_lock("job:a", a) is True


async def test_concurrent_acquire_has_exactly_one_holder(kv: KV) -> None:
    tokens = await asyncio.gather(*(kv.acquire_lock("job:x", ttl=60) for _ in range(20)))
    held = [t for t in tokens if t is not None]
    assert len(held) == 1


# ---------------------------------------------------------------------- JSON


async def test_json_round_trips_nested_chinese_state(kv: KV) -> None:
    state = {
        "昵称": "小满妈妈",
        "标签": ["关注:湿疹", "渠道:小红书"],
        "宝宝": {"月龄": 7, "体重kg": 8.25, "过敏": None, "早产": False},
        "emoji": "👶🍼",
        "quote": 'say "嗨"\n',
    }
    await kv.set_json("state:c1", state)
    assert await kv.get_json("state:c1") == state
    raw = await kv.get("state:c1")
    assert raw is not None and "小满妈妈" in raw  # stored readable, not \\u-escaped
    assert json.loads(raw) == state


async def test_json_top_level_values(kv: KV) -> None:
    assert await kv.get_json("missing") is None
    for value in ([1, "二", [3.5]], "纯文本", 42, 0.5, True, {}):
        await kv.set_json("v", value)
        assert await kv.get_json("v") == value


async def test_json_expires_like_any_value(kv: KV, clock: FakeClock) -> None:
    await kv.set_json("state", {"步骤": "问月龄"}, ttl=300)
    assert await kv.ttl("state") == pytest.approx(300)
    clock.advance(299)
    assert await kv.get_json("state") == {"步骤": "问月龄"}
    clock.advance(1)
    assert await kv.get_json("state") is None


# ---------------------------------------------------------------------- keys


async def test_unicode_keys_are_distinct_keys(kv: KV, clock: FakeClock) -> None:
    keys = ["群:宝妈交流群", "群:宝妈交流群2", "cooldown:😀", "κλειδί", "with space", "a:b*c?[d]"]
    for i, key in enumerate(keys):
        await kv.set(key, str(i), ttl=60)
    for i, key in enumerate(keys):
        assert await kv.get(key) == str(i)
    assert await kv.incr("次数:张三") == 1
    assert await kv.window_hit("频率:张三", 60) == 1
    assert await kv.delete("群:宝妈交流群") is True
    assert await kv.get("群:宝妈交流群") is None
    assert await kv.get("群:宝妈交流群2") == "1"
    clock.advance(60)
    assert [await kv.get(key) for key in keys] == [None] * len(keys)


# ---------------------------------------------------------------------- backend specifics


async def test_memory_purges_expired_keys_that_are_never_read_again(clock: FakeClock) -> None:
    kv = MemoryKV(clock)
    for i in range(1000):
        await kv.set_if_absent(f"evt:{i}", "1", ttl=60)
    for i in range(20):
        await kv.window_hit(f"rate:{i}", 30)
    assert len(kv) == 1020
    clock.advance(61)
    # Writes do the purging, a bounded batch at a time.
    for i in range(100):
        await kv.set(f"live:{i}", "1")
    assert len(kv) == 100
    assert await kv.get("live:99") == "1"


async def test_memory_purge_spares_keys_whose_expiry_moved(clock: FakeClock) -> None:
    kv = MemoryKV(clock)
    await kv.set("k", "v", ttl=10)
    await kv.set("k", "v", ttl=100)  # the first expiry is stale now
    await kv.set("plain", "v", ttl=10)
    await kv.set("plain", "v")
    clock.advance(50)
    await kv.set("trigger", "1")
    assert await kv.get("k") == "v"
    assert await kv.get("plain") == "v"
    assert len(kv) == 3


async def test_make_kv_picks_the_backend(clock: FakeClock) -> None:
    memory = make_kv(clock, None)
    assert isinstance(memory, MemoryKV)
    assert isinstance(make_kv(clock, ""), MemoryKV)
    shared = make_kv(clock, "redis://127.0.0.1:6379/15", prefix="p:")
    assert isinstance(shared, RedisKV)
    assert shared.prefix == "p:"
    await shared.close()  # never connected: closing must still work


async def test_redis_keys_carry_the_prefix_and_flush_removes_only_them(
    redis_kv: RedisKV, clock: FakeClock
) -> None:
    neighbour = _redis_kv(clock)
    try:
        await redis_kv.set("k", "mine", ttl=60)
        await redis_kv.window_hit("w", 60)
        await neighbour.set("k", "theirs")
        assert await redis_kv.get("k") == "mine"
        assert await neighbour.get("k") == "theirs"

        raw = aioredis.Redis.from_url(services.redis_url(), decode_responses=True)
        try:
            names = {n async for n in raw.scan_iter(match=redis_kv.prefix + "*")}
            assert names == {redis_kv.prefix + "k", redis_kv.prefix + "w"}
        finally:
            await raw.aclose()

        assert await redis_kv.flush_prefix() == 2
        assert await redis_kv.get("k") is None
        assert await neighbour.get("k") == "theirs"
    finally:
        await neighbour.flush_prefix()
        await neighbour.close()


async def test_redis_gc_expiry_outlives_the_logical_one(
    redis_kv: RedisKV, clock: FakeClock
) -> None:
    await redis_kv.set("k", "v", ttl=10)
    raw = aioredis.Redis.from_url(services.redis_url(), decode_responses=True)
    try:
        real_ms = await raw.pttl(redis_kv.prefix + "k")
        assert (10 + GC_MARGIN - 5) * 1000 < real_ms <= (10 + GC_MARGIN) * 1000
        clock.advance(3 * DAY)
        # Logically gone on the injected clock, although Redis still holds it.
        assert await redis_kv.get("k") is None
        assert await raw.exists(redis_kv.prefix + "k") == 1
        await redis_kv.set("k", "forever")
        assert await raw.pttl(redis_kv.prefix + "k") == -1  # no stale GC expiry left over
    finally:
        await raw.aclose()


async def test_redis_instances_with_one_prefix_share_state(
    redis_kv: RedisKV, clock: FakeClock
) -> None:
    other = RedisKV(services.redis_url(), clock, prefix=redis_kv.prefix)
    try:
        token = await redis_kv.acquire_lock("job:welcome", ttl=60)
        assert token is not None
        assert await other.acquire_lock("job:welcome", ttl=60) is None
        assert await other.release_lock("job:welcome", token) is True
        assert await other.set_if_absent("evt:1", "1") is True
        assert await redis_kv.set_if_absent("evt:1", "1") is False
    finally:
        await other.close()


# ---------------------------------------------------------------- reachability


async def test_a_store_that_is_up_answers_a_ping(kv: KV) -> None:
    assert await kv.ping() is True
    assert "s3cret" not in kv.describe()


async def test_redis_away_fails_fast_and_ping_says_so(clock: FakeClock) -> None:
    import socket

    import redis.exceptions

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = RedisKV(f"redis://:s3cret@127.0.0.1:{port}/4", clock)
    try:
        assert await store.ping() is False  # never raises: asked after a failure
        # One immediate retry, not the client's default ten with real sleeps between: the
        # caller (the dispatcher) waits out an outage on its own clock.
        assert store._redis.get_retry().get_retries() == 1  # type: ignore[union-attr]
        with pytest.raises(redis.exceptions.ConnectionError):
            await store.set("k", "v")
        assert store.describe() == f"Redis at redis://:***@127.0.0.1:{port}/4"
    finally:
        await store.close()


async def test_delete_naming_deletes_the_keys_that_name_her_and_only_those(kv: KV) -> None:
    for key in (
        "fallback:acct:b",
        "kw:cd:acct:b:rule-3",
        "admin:refused:R1:b",
        "evt:acct:join:R1:b:17",
        "g:flood:R1:b*",  # a glob character in an id is only itself
    ):
        await kv.set(key, "1", ttl=3600)
    await kv.window_hit("g:rep:R1:b", 60)
    for key in ("fallback:acct:bb", "kw:cd:acct:wxid_b:rule", "b-side", "R1:ab:c"):
        await kv.set(key, "1")
    assert await kv.delete_naming("b") == 5
    for kept in (
        "fallback:acct:bb",
        "kw:cd:acct:wxid_b:rule",
        "b-side",
        "R1:ab:c",
        "g:flood:R1:b*",
    ):
        assert await kv.get(kept) == "1", kept
    assert await kv.get("fallback:acct:b") is None and await kv.window_count("g:rep:R1:b", 60) == 0
    assert await kv.delete_naming("b*") == 1


async def test_delete_naming_never_matches_a_key_s_kind(kv: KV) -> None:
    for key in ("g:joined:R1:a", "g:joined:R1:b", "kw:cd:acct:a:rule", "dialog:joined"):
        await kv.set(key, "1")
    assert await kv.delete_naming("joined") == 1  # her dialog key, not everyone's marks
    assert await kv.delete_naming("cd") == 0
    assert await kv.get("g:joined:R1:a") == "1" and await kv.get("kw:cd:acct:a:rule") == "1"

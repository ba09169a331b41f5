"""The open HTTP API over real loopback HTTP: the bot's web server on a free port, called
as the ERP and the CRM would call it, on SQLite and on PostgreSQL (with Redis)."""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.features import Feature, Platform
from handlers.api.access import FAILURES_PER_MINUTE
from handlers.api.export import safe_cell
from storage import contact_view, metrics, people, profiles
from storage.db import Database
from storage.models import Enrollment, Interaction, Order, RfmScore, RoomMembership
from tests import services
from tests.harness import START, BotUnderTest, copy_project

ERP, CRM, SHOP = "erp-secret-token-1", "crm-secret-token-2", "shop-secret-token-3"
TOKENS = """
[[api_tokens]]
name = "erp"
token_env = "MAMABOT_TEST_API_ERP"
scopes = ["read", "orders:write"]
requests_per_minute = 1000

[[api_tokens]]
name = "crm"
token_env = "MAMABOT_TEST_API_CRM"
scopes = ["read"]
requests_per_minute = 3

[[api_tokens]]
name = "shop"
token_env = "MAMABOT_TEST_API_SHOP"
scopes = ["orders:write"]

[[api_tokens]]
name = "off"
token_env = "MAMABOT_TEST_API_UNSET"
scopes = ["read", "orders:write"]
"""
JSON = "application/json; charset=utf-8"


def project(tmp: Path) -> Path:
    copy_project(tmp)
    with (tmp / "config.toml").open("a", encoding="utf-8") as f:
        f.write(TOKENS)
    return tmp


@pytest.fixture(autouse=True)
def _tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAMABOT_TEST_API_ERP", ERP)
    monkeypatch.setenv("MAMABOT_TEST_API_CRM", CRM)
    monkeypatch.setenv("MAMABOT_TEST_API_SHOP", SHOP)
    monkeypatch.delenv("MAMABOT_TEST_API_UNSET", raising=False)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str:
        return str(self.json()["error"]["code"])


class Api:
    def __init__(self, bot: BotUnderTest, port: int, http: aiohttp.ClientSession) -> None:
        self.bot, self.port, self.http = bot, port, http

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = ERP,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            data = json.dumps(json_body, ensure_ascii=False).encode()
            sent["Content-Type"] = "application/json"
        async with self.http.request(
            method, f"http://127.0.0.1:{self.port}{path}", data=data, headers=sent
        ) as resp:
            return Reply(resp.status, dict(resp.headers), await resp.read())

    async def get(self, path: str, token: str | None = ERP) -> Reply:
        return await self.call("GET", path, token)

    async def ok(self, path: str, token: str | None = ERP) -> Any:
        reply = await self.get(path, token)
        assert reply.status == 200, (reply.status, reply.body)
        assert reply.headers["Content-Type"] == JSON
        return reply.json()


@pytest.fixture(params=["sqlite", "postgres"])
async def bot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BotUnderTest]:
    async with running_bot(request.param, tmp_path) as running:
        yield running


class running_bot:
    def __init__(self, backend: str, tmp: Path, features: dict[str, Any] | None = None) -> None:
        self.backend, self.tmp, self.features = backend, tmp, features
        self.bot: BotUnderTest | None = None

    async def __aenter__(self) -> BotUnderTest:
        base = project(self.tmp)
        if self.backend == "sqlite":
            self.bot = BotUnderTest(
                base, database_url=f"sqlite://{self.tmp}/api.sqlite3", features=self.features
            )
        else:
            pg, redis = services.postgres_url(), services.redis_url()
            db = Database(pg)
            await db.open()
            await db.truncate_all()
            await db.close()
            self.bot = BotUnderTest(
                base,
                database_url=pg,
                redis_url=redis,
                kv_prefix=f"mamabot-test:{uuid.uuid4().hex}:",
                features=self.features,
            )
        return await self.bot.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        assert self.bot is not None
        await self.bot.__aexit__(*exc)


@pytest.fixture
async def api(bot: BotUnderTest) -> AsyncIterator[Api]:
    async with serving(bot) as served:
        yield served


class serving:
    def __init__(self, bot: BotUnderTest) -> None:
        self.bot = bot
        self.http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Api:
        port = await self.bot.app.start_web(port=0)
        assert port
        self.http = aiohttp.ClientSession()
        return Api(self.bot, port, self.http)

    async def __aexit__(self, *exc: object) -> None:
        assert self.http is not None
        await self.http.close()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def interaction(
    contact: str,
    when: datetime,
    text: str | None = "你好",
    *,
    kind: str = "message",
    room: str | None = "R1",
) -> Interaction:
    return await Interaction.create(
        at=when,
        account_id="acc1",
        event_id=f"e-{uuid.uuid4().hex}",
        kind=kind,
        room_id=room,
        contact_id=contact,
        msg_type="text" if kind == "message" else None,
        text=text,
    )


# --------------------------------------------------------------------------- the gate


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {ERP}"},
        {"Authorization": "Bearer "},
        {"Authorization": ERP},
    ],
)
async def test_no_valid_token_is_a_401_json_error_that_asks_for_a_bearer_token(
    api: Api, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reply = await api.call("GET", "/api/contacts", None, headers=headers)
    assert reply.status == 401
    assert reply.headers["Content-Type"] == JSON
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert reply.code == "unauthorized"
    assert ERP not in caplog.text and "wrong-token" not in caplog.text


async def test_a_token_whose_variable_is_unset_is_off(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await api.get("/api/tags", "later-token")).status == 401
    assert (await api.get("/api/tags", "")).status == 401  # an empty bearer matches nothing
    monkeypatch.setenv("MAMABOT_TEST_API_UNSET", "later-token")  # read on each request
    assert (await api.get("/api/tags", "later-token")).status == 200
    monkeypatch.setenv("MAMABOT_TEST_API_UNSET", "  ")
    assert (await api.get("/api/tags", "later-token")).status == 401


async def test_a_token_without_the_scope_is_a_403(api: Api) -> None:
    reply = await api.call("POST", "/api/orders", CRM, json_body={"orders": []})
    assert (reply.status, reply.code) == (403, "forbidden")
    reply = await api.get("/api/tags", SHOP)
    assert (reply.status, reply.code) == (403, "forbidden")
    assert (await api.get("/api/tags", CRM)).status == 200


async def test_a_token_over_its_rate_limit_waits_for_the_next_minute(api: Api) -> None:
    for _ in range(3):
        assert (await api.get("/api/tags", CRM)).status == 200
    refused = await api.get("/api/tags", CRM)
    assert (refused.status, refused.code) == (429, "rate_limited")
    assert refused.headers["Retry-After"] == "60"  # the clock stands at 09:00:00
    assert (await api.get("/api/tags", ERP)).status == 200  # per token
    await api.bot.tick("45s")
    assert (await api.get("/api/tags", CRM)).headers["Retry-After"] == "15"
    await api.bot.tick("15s")
    assert (await api.get("/api/tags", CRM)).status == 200


async def test_a_request_refused_for_its_scope_uses_none_of_the_quota(api: Api) -> None:
    for _ in range(5):  # the crm token may make 3 requests a minute, and may not write
        reply = await api.call("POST", "/api/orders", CRM, json_body={"orders": []})
        assert (reply.status, reply.code) == (403, "forbidden")
    for _ in range(3):
        assert (await api.get("/api/tags", CRM)).status == 200
    assert (await api.get("/api/tags", CRM)).status == 429


async def test_an_address_guessing_tokens_is_refused_until_the_minute_ends(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(FAILURES_PER_MINUTE - 1):
        assert (await api.get("/api/tags", f"guess-{i}")).status == 401
    for _ in range(5):  # requests with a valid token are not failures
        assert (await api.get("/api/tags", ERP)).status == 200
    assert (await api.get("/api/tags", "guess-last")).status == 401
    refused = await api.get("/api/tags", "guess-more")
    assert (refused.status, refused.code) == (429, "rate_limited")
    assert refused.headers["Retry-After"] == "60"  # the clock stands at 09:00:00
    # Refused before the token is looked at: a right guess now would say nothing.
    for method, path in [("GET", "/api/tags"), ("POST", "/api/orders")]:
        reply = await api.call(method, path, ERP, json_body={"orders": []})
        assert (reply.status, reply.code) == (429, "rate_limited")
    assert (await api.ok("/api/openapi.json", None))["openapi"]  # no token, no limit
    assert "guess" not in caplog.text
    warned = [r for r in caplog.records if "without a valid token" in r.getMessage()]
    assert len(warned) == 1  # when the address ran out, not on every refusal
    await api.bot.tick("45s")
    assert (await api.get("/api/tags", ERP)).headers["Retry-After"] == "15"
    await api.bot.tick("15s")
    assert (await api.get("/api/tags", ERP)).status == 200
    assert (await api.get("/api/tags", "guess-again")).status == 401


async def test_failed_token_checks_go_unlimited_while_the_key_value_store_is_away(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def away(*args: object, **kwargs: object) -> int:
        raise ConnectionError("kv down")

    monkeypatch.setattr(api.bot.app.kv, "incr", away)
    monkeypatch.setattr(api.bot.app.kv, "get", away)
    for _ in range(FAILURES_PER_MINUTE + 5):
        assert (await api.get("/api/tags", "guess")).status == 401
    assert (await api.get("/api/tags", ERP)).status == 200


async def test_the_api_stays_up_when_the_key_value_store_is_away(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def away(*args: object, **kwargs: object) -> int:
        raise ConnectionError("kv down")

    caplog.set_level(logging.INFO, logger="handlers.api")

    with monkeypatch.context() as patch:
        patch.setattr(api.bot.app.kv, "incr", away)
        for _ in range(5):  # over the limit of 3, but nothing counts: let through
            assert (await api.get("/api/tags", CRM)).status == 200
    warnings = [r for r in caplog.records if "rate limit off" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not per request
    assert (await api.get("/api/tags", CRM)).status == 200
    assert "rate limit is back on" in caplog.text


async def test_unknown_paths_and_methods_are_json_errors(api: Api) -> None:
    reply = await api.get("/api/nothing-here")
    assert (reply.status, reply.code, reply.headers["Content-Type"]) == (404, "not_found", JSON)
    reply = await api.call("DELETE", "/api/tags")
    assert (reply.status, reply.code, reply.headers["Allow"]) == (405, "method_not_allowed", "GET")
    reply = await api.get("/api/contacts/nobody")
    assert (reply.status, reply.code) == (404, "not_found")
    reply = await api.get("/api/contacts/nobody/timeline")
    assert (reply.status, reply.code) == (404, "not_found")


async def test_the_openapi_document_is_served_without_a_token(api: Api) -> None:
    doc = await api.ok("/api/openapi.json", None)
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    served = {
        "/api/contacts",
        "/api/contacts/{id}",
        "/api/contacts/{id}/timeline",
        "/api/tags",
        "/api/orders",
        "/api/metrics/overview",
        "/api/interactions.jsonl",
        "/api/interactions.csv",
        "/api/openapi.json",
    }
    assert set(doc["paths"]) == served


@pytest.mark.parametrize(
    "path",
    [
        "/api/contacts/a%00b",
        "/api/contacts/a%00b/timeline",
        "/api/contacts?tag=a%00b",
        "/api/contacts?stage=%00",
        "/api/metrics/overview?account=a%00b",
        "/api/metrics/overview?room=a%00b",
        "/api/metrics/overview?channel=%00",
    ],
)
async def test_a_nul_character_in_a_parameter_or_id_is_a_400(api: Api, path: str) -> None:
    reply = await api.get(path)  # PostgreSQL cannot take NUL; SQLite would find nothing
    assert (reply.status, reply.code, reply.headers["Content-Type"]) == (
        400,
        "bad_request",
        JSON,
    )


# --------------------------------------------------------------------------- contacts


async def some_contacts(bot: BotUnderTest, count: int) -> list[str]:
    ids = []
    for i in range(count):
        contact = f"wx-{i:02d}"
        await people.upsert_contact(contact, START + timedelta(minutes=i), name=f"妈妈{i}")
        ids.append(contact)
    return ids


async def walk(api: Api, path: str, key: str, limit: int) -> list[list[Any]]:
    pages: list[list[Any]] = []
    sep = "&" if "?" in path else "?"
    url = f"{path}{sep}limit={limit}"
    while True:
        page = await api.ok(url)
        pages.append(page[key])
        if page["next_cursor"] is None:
            return pages
        assert len(page[key]) == limit
        url = f"{path}{sep}limit={limit}&cursor={page['next_cursor']}"


async def test_contacts_are_paged_without_repeats_or_gaps(api: Api) -> None:
    ids = await some_contacts(api.bot, 7)
    pages = await walk(api, "/api/contacts", "contacts", 3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [c["id"] for p in pages for c in p] == ids
    first = pages[0][0]
    assert first["name"] == "妈妈0" and first["first_seen_at"] == "2026-11-25T09:00:00+08:00"
    assert (first["is_friend"], first["opted_out"], first["stage"], first["tags"]) == (
        False,
        False,
        None,
        [],
    )


async def test_a_contact_added_while_paging_comes_once_at_the_end(api: Api) -> None:
    ids = await some_contacts(api.bot, 4)
    page = await api.ok("/api/contacts?limit=2")
    await people.upsert_contact("wx-new", START, name="新妈妈")
    rest = await api.ok(f"/api/contacts?limit=5&cursor={page['next_cursor']}")
    assert [c["id"] for c in page["contacts"] + rest["contacts"]] == [*ids, "wx-new"]
    assert rest["next_cursor"] is None


async def test_contacts_filter_by_tag_and_stage(api: Api) -> None:
    ids = await some_contacts(api.bot, 6)
    tags = api.bot.app.tags
    for contact in ids[1::2]:
        await tags.add(contact, "城市:上海", source="dialog")
    for contact in ids[:4]:
        profile = await profiles.get_or_create(contact, START)
        await profiles.set_stage(profile, "pregnant", START)
    await tags.add(ids[0], "关注:辅食", source="keyword")
    tagged = await walk(api, "/api/contacts?tag=城市:上海", "contacts", 2)
    assert [c["id"] for p in tagged for c in p] == ids[1::2]
    both = await api.ok("/api/contacts?tag=%E5%9F%8E%E5%B8%82:%E4%B8%8A%E6%B5%B7&stage=pregnant")
    assert [c["id"] for c in both["contacts"]] == [ids[1], ids[3]]
    assert both["contacts"][0]["stage"] == "pregnant"
    assert both["contacts"][0]["tags"] == ["城市:上海"]
    assert (await api.ok("/api/contacts?tag=nobody-has-it"))["contacts"] == []


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=201",
        "limit=abc",
        "limit=-1",
        "limit=",
        "cursor=not-a-cursor",
        "cursor=WyJ0IiwxXQ",
        "page=2",
    ],
)
async def test_a_bad_page_request_is_a_400(api: Api, query: str) -> None:
    reply = await api.get(f"/api/contacts?{query}")
    assert (reply.status, reply.code, reply.headers["Content-Type"]) == (400, "bad_request", JSON)


async def test_the_limit_defaults_to_50_and_goes_up_to_200(api: Api) -> None:
    await some_contacts(api.bot, 60)
    assert len((await api.ok("/api/contacts"))["contacts"]) == 50
    assert len((await api.ok("/api/contacts?limit=200"))["contacts"]) == 60


async def test_a_contact_360_shows_profile_tags_with_source_and_history_orders_and_more(
    api: Api,
) -> None:
    bot = api.bot
    bot.room("R1", "孕妈交流群", owner="owner1", members=["owner1"])
    await bot.register_room("R1")
    await people.upsert_contact("mom", START, name="小红", channel="qr-store-7")
    await RoomMembership.create(room_id="R1", contact_id="mom", joined_at=START)
    await profiles.record_answer(
        "mom",
        {"due_date": at("2027-03-01T00:00:00+08:00").date(), "stage": "pregnant"},
        START,
        account_id="acc1",
        replace_dates=False,
    )
    tags = bot.app.tags
    await tags.add("mom", "关注:辅食", source="keyword", detail="辅食")
    await tags.add("mom", "城市:上海", source="dialog", detail="city")
    await tags.remove("mom", "关注:辅食", source="admin", detail="owner1")
    for i, (amount, when) in enumerate(
        [(19900, "2026-11-01T10:00:00+08:00"), (5000, "2026-11-20T10:00:00+08:00")]
    ):
        await Order.create(
            order_id=f"SO-{i}",
            contact_id="mom",
            amount_cents=amount,
            placed_at=at(when),
            created_at=START,
            updated_at=START,
            product="奶粉",
            channel="qr-store-7",
        )
    await Enrollment.create(
        contact_id="mom", sequence_id="mid-pregnancy", account_id="acc1", enrolled_at=START
    )
    await RfmScore.create(
        contact_id="mom",
        recency_days=5,
        frequency=2,
        monetary_cents=24900,
        r=5,
        f=4,
        m=3,
        segment="高价值",
        computed_at=START,
    )
    view = await api.ok("/api/contacts/mom")
    assert view["contact"] == {
        "id": "mom",
        "name": "小红",
        "channel": "qr-store-7",
        "is_friend": False,
        "first_seen_at": "2026-11-25T09:00:00+08:00",
        "opted_out": False,
        "unfriended_at": None,
    }
    assert view["profile"]["stage"] == "pregnant"
    assert view["profile"]["due_date"] == "2027-03-01"
    assert view["tags"] == [
        {
            "name": "城市:上海",
            "source": "dialog",
            "detail": "city",
            "added_at": "2026-11-25T09:00:00+08:00",
        }
    ]
    assert [(h["tag"], h["op"], h["source"]) for h in view["tag_history"]] == [
        ("关注:辅食", "add", "keyword"),
        ("城市:上海", "add", "dialog"),
        ("关注:辅食", "remove", "admin"),
    ]
    assert view["groups"] == [
        {
            "room_id": "R1",
            "topic": "孕妈交流群",
            "joined_at": "2026-11-25T09:00:00+08:00",
            "left_at": None,
        }
    ]
    assert [(o["order_id"], o["amount_cents"], o["placed_at"]) for o in view["orders"]] == [
        ("SO-1", 5000, "2026-11-20T10:00:00+08:00"),
        ("SO-0", 19900, "2026-11-01T10:00:00+08:00"),
    ]
    assert view["orders_total"] == 2
    assert [(s["sequence_id"], s["status"]) for s in view["sequences"]] == [
        ("mid-pregnancy", "active")
    ]
    assert (view["rfm"]["segment"], view["rfm"]["r"], view["rfm"]["monetary_cents"]) == (
        "高价值",
        5,
        24900,
    )


async def test_a_contact_360_says_when_she_deleted_the_bot(api: Api) -> None:
    await people.upsert_contact("gone", START, name="小丽", is_friend=True)
    await people.friend_lost("gone", START + timedelta(days=1))
    view = await api.ok("/api/contacts/gone")
    assert (view["contact"]["is_friend"], view["contact"]["unfriended_at"]) == (
        False,
        "2026-11-26T09:00:00+08:00",
    )


async def test_a_forgotten_mother_is_only_her_anonymised_rows(api: Api) -> None:
    await people.upsert_contact("mom", START, name="小红")
    await api.bot.app.tags.add("mom", "城市:上海", source="dialog")
    await interaction("mom", START, "我在上海")
    assert api.bot.app.services.forget is not None
    await api.bot.app.services.forget("mom")
    assert (await api.get("/api/contacts/mom")).status == 404
    (anon,) = await Interaction.all().values_list("contact_id", flat=True)
    assert anon != "mom"
    view = await api.ok(f"/api/contacts/{anon}")
    assert (view["contact"]["name"], view["tags"], view["profile"]) == ("", [], None)
    events = (await api.ok(f"/api/contacts/{anon}/timeline"))["events"]
    assert [e["text"] for e in events] == [None]  # her words are gone


# --------------------------------------------------------------------------- timeline


async def test_the_timeline_is_newest_first_and_pages_through_equal_times(api: Api) -> None:
    await people.upsert_contact("mom", START, name="小红")
    same = START + timedelta(hours=1)
    made = [
        await interaction("mom", START, "第一句"),
        await interaction("mom", same, "同一秒A"),
        await interaction("mom", same, "同一秒B"),
        await interaction("mom", same, "同一秒C"),
        await interaction("mom", START + timedelta(hours=2), None, kind="leave"),
        await interaction("other", same, "别人的话"),
    ]
    pages = await walk(api, "/api/contacts/mom/timeline", "events", 2)
    texts = [e["text"] for p in pages for e in p]
    assert texts == [None, "同一秒C", "同一秒B", "同一秒A", "第一句"]
    newest = pages[0][0]
    assert newest == {
        "at": "2026-11-25T11:00:00+08:00",
        "kind": "leave",
        "room_id": "R1",
        "msg_type": None,
        "text": None,
    }
    assert len(made) == 6


async def test_a_timeline_cursor_of_the_contact_list_is_refused(api: Api) -> None:
    await some_contacts(api.bot, 3)
    cursor = (await api.ok("/api/contacts?limit=1"))["next_cursor"]
    reply = await api.get(f"/api/contacts/wx-00/timeline?cursor={cursor}")
    assert (reply.status, reply.code) == (400, "bad_request")


def edited(*position: Any) -> str:
    """A cursor as a client that took one apart and changed it would send."""
    raw = json.dumps(list(position)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "path",
    [
        f"/api/contacts?cursor={edited('c', 0)}",
        f"/api/contacts?cursor={edited('c', -1)}",
        f"/api/contacts?cursor={edited('c', 2**31)}",  # contact.id is an integer
        f"/api/contacts?cursor={edited('c', 10**20)}",
        f"/api/contacts?cursor={edited('c', True)}",
        f"/api/contacts/mom/timeline?cursor={edited('t', '0001-01-01T00:00:00+05:00', 1)}",
        f"/api/contacts/mom/timeline?cursor={edited('t', '1999-12-31T23:59:59+00:00', 1)}",
        f"/api/contacts/mom/timeline?cursor={edited('t', '3000-01-01T00:00:00+00:00', 1)}",
        f"/api/contacts/mom/timeline?cursor={edited('t', '9999-12-31T23:00:00-05:00', 1)}",
        f"/api/contacts/mom/timeline?cursor={edited('t', '2026-01-01T00:00:00+00:00', 0)}",
        f"/api/contacts/mom/timeline?cursor={edited('t', '2026-01-01T00:00:00+00:00', 2**63)}",
    ],
)
async def test_an_edited_cursor_out_of_bounds_is_a_400(api: Api, path: str) -> None:
    await people.upsert_contact("mom", START, name="小红")
    reply = await api.get(path)
    assert (reply.status, reply.code) == (400, "bad_request")


async def test_cursors_at_the_edges_of_their_bounds_are_taken(api: Api) -> None:
    await people.upsert_contact("mom", START, name="小红")
    await interaction("mom", START)
    last = await api.ok(f"/api/contacts?cursor={edited('c', 2**31 - 1)}")
    assert last == {"contacts": [], "next_cursor": None}
    newest = edited("t", "2999-12-31T23:59:59+00:00", 2**63 - 1)
    assert len((await api.ok(f"/api/contacts/mom/timeline?cursor={newest}"))["events"]) == 1
    oldest = edited("t", "2000-01-01T00:00:00+00:00", 1)
    assert (await api.ok(f"/api/contacts/mom/timeline?cursor={oldest}"))["events"] == []


# --------------------------------------------------------------------------- tags


async def test_tags_are_counted_by_who_carries_them_now(api: Api) -> None:
    tags = api.bot.app.tags
    for contact in ("a", "b", "c"):
        await tags.add(contact, "城市:上海", source="dialog")
    await tags.add("a", "孕期", source="stage")
    await tags.add("b", "已退群", source="rule")
    await tags.remove("b", "已退群", source="rule")
    assert await api.ok("/api/tags") == {
        "tags": [{"name": "城市:上海", "contacts": 3}, {"name": "孕期", "contacts": 1}]
    }


# --------------------------------------------------------------------------- export


async def export_rows(api: Api) -> list[Interaction]:
    await people.upsert_contact("mom", START)
    rows = [
        await interaction("mom", at("2026-11-23T23:59:59+08:00"), "前一天，不算"),
        await interaction("mom", at("2026-11-24T00:00:00+08:00"), '=HYPERLINK("http://x","点我")'),
        await interaction("mom", at("2026-11-24T08:00:00+08:00"), '她说："好的"\n第二行, 逗号'),
        await interaction("mom", at("2026-11-24T08:00:00+08:00"), "+86 138 0000 0000"),
        await interaction("b", at("2026-11-25T10:00:00+08:00"), None, kind="join"),
        await interaction("c", at("2026-11-25T23:59:59+08:00"), "@所有人 -1"),
        await interaction("c", at("2026-11-26T00:00:00+08:00"), "后一天，不算"),
    ]
    return rows


async def expected(start: str, end: str) -> list[dict[str, Any]]:
    rows = await Interaction.filter(at__gte=at(start), at__lt=at(end)).order_by("at", "id")
    return [
        {
            "id": r.id,
            "at": r.at.astimezone(START.tzinfo).isoformat(),
            "account_id": r.account_id,
            "kind": r.kind,
            "room_id": r.room_id,
            "contact_id": r.contact_id,
            "msg_type": r.msg_type,
            "text": r.text,
        }
        for r in rows
    ]


async def test_the_jsonl_export_streams_the_days_asked_for(api: Api) -> None:
    await export_rows(api)
    reply = await api.get("/api/interactions.jsonl?from=2026-11-24&to=2026-11-25")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert reply.headers.get("Transfer-Encoding") == "chunked"  # streamed, not one body
    lines = [json.loads(line) for line in reply.body.decode().splitlines()]
    want = await expected("2026-11-24T00:00:00+08:00", "2026-11-26T00:00:00+08:00")
    assert lines == want
    assert len(lines) == 5


async def test_the_csv_export_has_a_header_and_defuses_formulas(api: Api) -> None:
    await export_rows(api)
    reply = await api.get("/api/interactions.csv?from=2026-11-24&to=2026-11-25")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in reply.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(reply.body.decode("utf-8"), newline="")))
    assert table[0] == list(contact_view.EXPORT_FIELDS)
    want = await expected("2026-11-24T00:00:00+08:00", "2026-11-26T00:00:00+08:00")
    assert table[1:] == [[safe_cell(row[f]) for f in contact_view.EXPORT_FIELDS] for row in want]
    texts = [row[-1] for row in table[1:]]
    assert texts == [
        '\'=HYPERLINK("http://x","点我")',
        '她说："好的"\n第二行, 逗号',
        "'+86 138 0000 0000",
        "",
        "'@所有人 -1",
    ]


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-11-26&to=2026-11-25",
        "from=yesterday",
        "to=2026-02-30",
        "from=0001-01-01",
        "to=",
        "form=2026-11-01",
    ],
)
async def test_a_bad_export_range_is_a_400(api: Api, query: str) -> None:
    reply = await api.get(f"/api/interactions.csv?{query}")
    assert (reply.status, reply.code, reply.headers["Content-Type"]) == (400, "bad_request", JSON)


async def test_the_export_reads_in_batches_and_misses_no_row_at_a_batch_edge(
    bot: BotUnderTest,
) -> None:
    same = START
    for i in range(7):
        await interaction(f"c{i}", same if i < 5 else same + timedelta(seconds=i), f"第{i}句")
    got = [
        row
        async for row in contact_view.interactions_between(
            START, START + timedelta(days=1), tz=START.tzinfo, batch=2
        )
    ]
    assert [r["text"] for r in got] == [f"第{i}句" for i in range(7)]


async def test_the_default_export_range_is_the_last_30_days(api: Api) -> None:
    await interaction("mom", START - timedelta(days=29), "29天前")
    await interaction("mom", START - timedelta(days=31), "31天前")
    reply = await api.get("/api/interactions.jsonl")
    assert [json.loads(line)["text"] for line in reply.body.decode().splitlines()] == ["29天前"]


# --------------------------------------------------------------------------- orders


@dataclass
class FakeReport:
    received: int

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "created": self.received,
            "updated": 0,
            "unchanged": 0,
            "unmatched": 0,
            "errors": [],
        }


class FakeOrders:
    def __init__(self) -> None:
        self.calls: list[tuple[list[dict[str, Any]], str]] = []

    async def ingest(self, records: list[dict[str, Any]], source: str) -> FakeReport:
        self.calls.append((list(records), source))
        return FakeReport(len(records))


@pytest.fixture
def fake_orders() -> Iterator[FakeOrders]:
    yield FakeOrders()


@pytest.fixture
async def plumbing(tmp_path: Path, fake_orders: FakeOrders) -> AsyncIterator[Api]:
    """The API in front of a recording orders service (the API's side of POST /api/orders)."""
    from bot.app import FEATURES

    def orders(p: Platform) -> Feature:
        return Feature(name="orders", exports={"service": fake_orders})

    bot = running_bot("sqlite", tmp_path, {**FEATURES, "orders": orders})
    async with bot as running, serving(running) as served:
        yield served


ORDER = {
    "order_id": "SO-1",
    "amount": "199.00",
    "placed_at": "2026-11-24T10:00:00",
    "phone": "13800000000",
}


@pytest.mark.parametrize(
    "body", [{"orders": [ORDER, ORDER]}, [ORDER, ORDER], ORDER], ids=["wrapped", "list", "one"]
)
async def test_orders_come_wrapped_as_a_list_or_alone(
    plumbing: Api, fake_orders: FakeOrders, body: Any
) -> None:
    reply = await plumbing.call("POST", "/api/orders", json_body=body)
    assert reply.status == 200, reply.body
    count = 1 if body is ORDER else 2
    assert reply.json()["received"] == count
    assert fake_orders.calls == [([ORDER] * count, "api")]


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (b'"just a string"', 400, "bad_request"),
        (b'{"orders": 5}', 400, "bad_request"),
        (b'{"orders": [1, 2]}', 400, "bad_request"),
        (json.dumps([ORDER] * 1001).encode(), 413, "payload_too_large"),
        (b" " * (4 * 1024 * 1024 + 1), 413, "payload_too_large"),
    ],
    ids=["broken", "not-utf8", "string", "orders-not-list", "not-objects", "too-many", "too-big"],
)
async def test_a_bad_orders_body_is_a_json_error_and_stores_nothing(
    plumbing: Api, fake_orders: FakeOrders, data: bytes, status: int, code: str
) -> None:
    reply = await plumbing.call(
        "POST", "/api/orders", data=data, headers={"Content-Type": "application/json"}
    )
    assert (reply.status, reply.code, reply.headers["Content-Type"]) == (status, code, JSON)
    assert fake_orders.calls == []


async def test_a_chunked_body_too_large_is_refused_as_it_streams(
    plumbing: Api, fake_orders: FakeOrders
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(80):
            yield b" " * 64 * 1024  # 5 MiB, no Content-Length

    async with plumbing.http.post(
        f"http://127.0.0.1:{plumbing.port}/api/orders",
        data=chunks(),
        headers={"Authorization": f"Bearer {ERP}"},
    ) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "payload_too_large"
    assert fake_orders.calls == []


async def test_orders_pushed_twice_are_stored_once(api: Api) -> None:
    """Through the real orders service (flows/orders.py): idempotent on order id."""
    await people.upsert_contact("mom", START, name="小红")
    first = {**ORDER, "contact_id": "mom"}
    reply = await api.call("POST", "/api/orders", json_body={"orders": [first]})
    assert reply.status == 200, reply.body
    report = reply.json()
    assert (report["received"], report["created"], report["errors"]) == (1, 1, [])
    again = await api.call("POST", "/api/orders", json_body=[first])
    assert (again.json()["created"], again.json()["unchanged"]) == (0, 1)
    changed = await api.call("POST", "/api/orders", json_body={**first, "status": "refunded"})
    assert changed.json()["updated"] == 1
    (order,) = await Order.all()
    assert (order.order_id, order.contact_id, order.amount_cents, order.status, order.source) == (
        "SO-1",
        "mom",
        19900,
        "refunded",
        "api",
    )
    view = await api.ok("/api/contacts/mom")
    assert [o["order_id"] for o in view["orders"]] == ["SO-1"]


async def test_a_bad_order_is_reported_and_the_rest_stored(api: Api) -> None:
    bad = {"order_id": "SO-2", "amount": "lots", "placed_at": "2026-11-24T10:00:00"}
    reply = await api.call("POST", "/api/orders", json_body=[ORDER, bad])
    assert reply.status == 200
    report = reply.json()
    assert report["received"] == 2
    assert [(e["index"], e["order_id"]) for e in report["errors"]] == [(1, "SO-2")]
    assert await Order.all().values_list("order_id", flat=True) == ["SO-1"]


# --------------------------------------------------------------------------- metrics


async def test_the_metrics_overview_covers_the_range_asked_for(api: Api) -> None:
    await api.bot.friend_request("mom", "小红")
    await api.bot.app.interactions.flush()
    body = await api.ok("/api/metrics/overview?from=2026-11-20&to=2026-11-25")
    assert (body["from"], body["to"]) == ("2026-11-20", "2026-11-25")
    assert [d["day"] for d in body["daily"]] == [f"2026-11-{d}" for d in range(20, 26)]
    for key in ("totals", "funnel", "channels", "conversion", "hot_topics", "filters"):
        assert key in body
    default = await api.ok("/api/metrics/overview")
    assert (default["from"], default["to"]) == ("2026-10-27", "2026-11-25")
    filtered = await api.ok("/api/metrics/overview?from=2026-11-25&to=2026-11-25&channel=qr-1")
    assert filtered["filters"]["channel"] == "qr-1"


@pytest.mark.parametrize(
    "query",
    ["from=2026-11-26&to=2026-11-25", "from=2025-01-01&to=2026-01-02", "from=2026/11/01", "to=x"],
)
async def test_a_bad_metrics_range_is_a_400(api: Api, query: str) -> None:
    reply = await api.get(f"/api/metrics/overview?{query}")
    assert (reply.status, reply.code) == (400, "bad_request")


async def test_a_range_the_metrics_refuse_is_a_400_not_a_500(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "MAX_DAYS", 7)  # stricter than the API's own check
    reply = await api.get("/api/metrics/overview?from=2026-11-01&to=2026-11-25")
    assert (reply.status, reply.code) == (400, "bad_request")


async def test_the_bots_own_messages_are_neither_activity_nor_hot_topics(api: Api) -> None:
    app = api.bot.app
    own = sorted(i for i in app.self_ids if i)
    assert own  # the simulated account's id, known from the start
    learned = "wxid-learned-at-login"
    app.self_ids.add(learned)  # a wechaty account's id joins the set when it logs in
    now = api.bot.clock.now()
    await interaction("mom", now - timedelta(minutes=5), "宝宝辅食怎么做")
    for bot_id in [*own, learned]:
        await interaction(bot_id, now - timedelta(minutes=5), "限时优惠奶粉团购")
    body = await api.ok("/api/metrics/overview?from=2026-11-25&to=2026-11-25")
    assert body["daily"][-1]["dau"] == 1
    words = {t["word"] for t in body["hot_topics"]}
    assert "辅食" in words
    assert not words & {"限时", "优惠", "奶粉", "团购"}


# --------------------------------------------------------------------------- failures


async def test_a_failure_on_our_side_is_a_500_json_error_and_logged(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> list[dict[str, Any]]:
        raise RuntimeError("database went away")

    monkeypatch.setattr(contact_view, "tag_counts", broken)
    reply = await api.get("/api/tags")
    assert (reply.status, reply.code, reply.headers["Content-Type"]) == (
        500,
        "internal_error",
        JSON,
    )
    assert "database went away" not in reply.body.decode()  # no internals to the caller
    assert "GET /api/tags failed" in caplog.text


async def test_an_export_that_fails_part_way_is_cut_short_never_looks_whole(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def rows_then_failure(*args: object, **kwargs: object) -> AsyncIterator[dict[str, Any]]:
        for i in range(3):
            yield {field: i for field in contact_view.EXPORT_FIELDS}
        raise RuntimeError("database went away")

    monkeypatch.setattr(contact_view, "interactions_between", rows_then_failure)
    monkeypatch.setattr("handlers.api.export._ROWS_PER_WRITE", 1)
    with pytest.raises(aiohttp.ClientPayloadError):
        await api.get("/api/interactions.jsonl")

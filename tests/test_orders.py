"""Orders: `mamabot import-orders` end to end, the order service behind POST /api/orders,
matching an order to the mother who placed it, the order trigger, and forgetting her."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from bot.clock import FakeClock
from bot.config import OrdersSection
from bot.triggers import Trigger, Triggers
from flows.orders import OrderError, OrderService, parse_amount, parse_placed_at
from storage import nurture as enrolments
from storage import orders as store
from storage import privacy
from storage.db import Database
from storage.models import Contact, Order, RfmScore
from tests.harness import START, BotUnderTest, copy_project

TZ = ZoneInfo("Asia/Shanghai")  # the bot timezone of config.toml, as START
HEADER = "订单号,外部联系人ID,unionid,手机号,实付金额,下单时间,订单状态,商品名称,渠道"

# ------------------------------------------------------------------ reading one order


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        ("¥1,288.50", 128850),
        ("￥99", 9900),
        ("99元", 9900),
        (" 0.1 ", 10),
        ("12.500", 1250),
        (19.9, 1990),
        (7, 700),
        (Decimal("0.01"), 1),
        ("RMB 5", 500),
    ],
)
def test_an_amount_in_yuan_becomes_exact_cents(value: Any, cents: int) -> None:
    assert parse_amount(value) == cents


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("-5", "is negative"),
        (-0.5, "is negative"),
        ("abc", "is not an amount in yuan"),
        ("1e3", "is not an amount in yuan"),
        ("1.005", "more than two decimals"),
        (True, "is not a number"),
        (float("nan"), "is not a number"),
        ("", "missing"),
        (None, "missing"),
        ("9" * 20, "too large"),
    ],
)
def test_a_bad_amount_says_what_is_wrong(value: Any, problem: str) -> None:
    with pytest.raises(OrderError, match=problem) as caught:
        parse_amount(value)
    assert caught.value.field == "amount"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20 14:30", datetime(2026, 11, 20, 14, 30, tzinfo=TZ)),
        ("2026/11/20 14:30:05", datetime(2026, 11, 20, 14, 30, 5, tzinfo=TZ)),
        ("2026/1/5 9:03", datetime(2026, 1, 5, 9, 3, tzinfo=TZ)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=TZ)),
        ("2026-11-20T06:30:00Z", datetime.fromisoformat("2026-11-20T14:30:00+08:00")),
        ("2026-11-20T14:30:00+08:00", datetime.fromisoformat("2026-11-20T14:30:00+08:00")),
    ],
)
def test_order_times_in_the_usual_forms_naive_ones_in_the_bot_timezone(
    text: str, expected: datetime
) -> None:
    parsed = parse_placed_at(text, TZ)
    assert parsed == expected and parsed.tzinfo is not None


@pytest.mark.parametrize("text", ["2026-13-01", "yesterday", "20.11.2026", "1900-01-01"])
def test_a_bad_order_time_is_refused(text: str) -> None:
    with pytest.raises(OrderError) as caught:
        parse_placed_at(text, TZ)
    assert caught.value.field == "placed_at"


def test_phone_numbers_are_digits_without_the_country_prefix() -> None:
    assert store.normalize_phone("+86 138-1234-5678") == "13812345678"
    assert store.normalize_phone("8613812345678") == "13812345678"
    assert store.normalize_phone("0086 13812345678") == "13812345678"
    assert store.normalize_phone("86123") == "86123"  # not a mobile number with a prefix
    assert store.normalize_phone("无") is None


# ------------------------------------------------------------------ storing and matching


def order(order_id: str, **fields: Any) -> store.OrderInput:
    values: dict[str, Any] = {
        "amount_cents": 9900,
        "placed_at": START - timedelta(days=1),
        "product": "待产包",
    }
    values.update(fields)
    return store.OrderInput(order_id=order_id, **values)


async def contact(contact_id: str, **ids: Any) -> None:
    await Contact.create(contact_id=contact_id, first_seen_at=START, updated_at=START, **ids)


async def test_upsert_is_idempotent_on_the_order_id(db: Database) -> None:
    batch = [order("A1"), order("A2", status="refunded")]
    first = await store.upsert(batch, "csv", START)
    assert (first.created, first.updated, first.unchanged, first.unmatched) == (2, 0, 0, 2)
    again = await store.upsert(batch, "api", START)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    changed = await store.upsert([order("A1", amount_cents=100)], "api", START)
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 0)
    assert await Order.all().count() == 2
    assert (await store.get("A1") or {})["amount_cents"] == 100
    # The same id twice in one batch: one order, the later values.
    twice = await store.upsert([order("B1"), order("B1", product="奶粉")], "csv", START)
    assert (twice.created, twice.updated) == (1, 1)
    assert (await store.get("B1") or {})["product"] == "奶粉"


async def test_each_id_matches_her_in_order_of_precedence(db: Database) -> None:
    await contact("wxid_a")
    await contact("wxid_b", external_id="wm_b")
    await contact("wxid_c", unionid="u_c")
    await contact("wxid_d", phone="13800000004")
    await contact("wxid_e", phone="13800000005")
    await contact("wxid_f", phone="13800000005")  # a shared phone names nobody
    orders = [
        order("1", contact_id="wxid_a", external_id="wm_b"),  # her own id first
        order("2", contact_id="nobody", external_id="wm_b"),  # unknown id: the next one
        order("3", external_id="wxid_a"),  # WeCom: the external id is the contact id
        order("4", unionid="u_c", phone="13800000004"),
        order("5", phone="13800000004"),
        order("6", phone="13800000005"),
        order("7", external_id="wm_x", unionid="u_x", phone="13900000000"),
        order("8", external_id="wm_x", phone="13800000004"),  # falls through to the phone
    ]
    result = await store.upsert(orders, "api", START)
    owners = {o.order_id: o.contact_id for o in await Order.all()}
    assert owners == {
        "1": "wxid_a",
        "2": "wxid_b",
        "3": "wxid_a",
        "4": "wxid_c",
        "5": "wxid_d",
        "6": None,
        "7": None,
        "8": "wxid_d",
    }
    assert result.unmatched == 2
    # The same time: the later stored first.
    assert [o["order_id"] for o in await store.orders_of("wxid_a")] == ["3", "1"]


async def test_an_order_waits_for_her_and_is_linked_once_she_is_known(db: Database) -> None:
    await store.upsert(
        [order("W1", unionid="u_late"), order("W2", unionid="u_late", status="cancelled")],
        "api",
        START,
    )
    assert await store.rematch() == []
    await contact("wxid_late", unionid="u_late")
    linked = await store.rematch()
    assert [(p.order_id, p.contact_id) for p in linked] == [("W1", "wxid_late")]
    assert {o["order_id"] for o in await store.orders_of("wxid_late")} == {"W1", "W2"}
    assert await store.rematch() == []  # nothing waits any more
    # A re-import of the same order keeps the link and changes nothing.
    again = await store.upsert([order("W1", unionid="u_late")], "csv", START)
    assert (again.unchanged, again.unmatched, again.became_paid) == (1, 0, [])


async def test_her_orders_are_newest_first_and_json_ready(db: Database) -> None:
    await contact("c")
    await store.upsert(
        [
            order("old", contact_id="c", placed_at=START - timedelta(days=9)),
            order("new", contact_id="c", placed_at=START - timedelta(days=1), channel="小程序"),
        ],
        "api",
        START,
    )
    (newest, oldest) = await store.orders_of("c")
    assert newest == {
        "order_id": "new",
        "amount_cents": 9900,
        "currency": "CNY",
        "status": "paid",
        "product": "待产包",
        "channel": "小程序",
        "placed_at": newest["placed_at"],
    }
    assert datetime.fromisoformat(newest["placed_at"]) == START - timedelta(days=1)
    assert oldest["order_id"] == "old"


async def test_forgetting_her_keeps_the_revenue_but_not_who_paid(db: Database) -> None:
    await contact("her", external_id="wm_her", unionid="u_her", phone="13800000001")
    await store.upsert(
        [
            order("H1", external_id="wm_her", phone="13800000001"),
            order("H2", phone="13800000001", contact_id="nobody-yet"),  # not linked
            order("O1", contact_id="other"),
        ],
        "api",
        START,
    )
    await RfmScore.create(
        contact_id="her", recency_days=1, frequency=1, monetary_cents=9900, r=5, f=5, m=5,
        segment="高价值", computed_at=START,
    )  # fmt: skip
    assert await privacy.is_known("her")
    done = await privacy.forget("her")
    assert done["orders_anonymised"] == 2 and done["rfm"] == 1
    rows = {o.order_id: o for o in await Order.all()}
    assert [rows[k].amount_cents for k in ("H1", "H2")] == [9900, 9900]
    for key in ("H1", "H2"):
        assert (rows[key].contact_id, rows[key].external_id, rows[key].phone) == (None,) * 3
    assert not await RfmScore.exists()


# ------------------------------------------------------------------ the service


@pytest.fixture
async def service(db: Database) -> AsyncIterator[tuple[OrderService, list[Trigger]]]:
    heard: list[Trigger] = []
    triggers = Triggers()

    async def record(trigger: Trigger) -> None:
        heard.append(trigger)

    triggers.subscribe("test", record)
    yield OrderService(OrdersSection(), FakeClock(START), triggers), heard


def json_order(order_id: str, **fields: Any) -> dict[str, Any]:
    return {"order_id": order_id, "amount": "99.00", "placed_at": "2026-11-24 10:00", **fields}


async def test_ingest_reports_bad_records_and_stores_the_rest(
    service: tuple[OrderService, list[Trigger]],
) -> None:
    orders, _heard = service
    records: list[Any] = [
        json_order("J1"),
        json_order("J2", amount=-1),
        {"amount": 5, "placed_at": "2026-11-24"},
        json_order("J3", placed_at="someday"),
        json_order("J4", status="发货中"),
        "not an object",
        json_order("J5", status="已退款", currency="usd", amount=12.5),
    ]
    report = (await orders.ingest(records, "api")).as_json()
    assert report == {
        "received": 7,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "unmatched": 2,
        "errors": [
            {"index": 1, "order_id": "J2", "error": "amount: '-1' is negative"},
            {"index": 2, "order_id": None, "error": "order_id: missing"},
            {"index": 3, "order_id": "J3", "error": report["errors"][2]["error"]},
            {"index": 4, "order_id": "J4", "error": report["errors"][3]["error"]},
            {"index": 5, "order_id": None, "error": "order: is not an object"},
        ],
    }
    assert report["errors"][2]["error"].startswith("placed_at: 'someday' is not a date")
    assert report["errors"][3]["error"].startswith("status: '发货中' is not a known status")
    j5 = await store.get("J5") or {}
    assert (j5["status"], j5["currency"], j5["amount_cents"]) == ("refunded", "USD", 1250)
    with pytest.raises(ValueError, match="source"):
        await orders.ingest([], "ftp")


async def test_a_new_paid_order_of_hers_fires_the_order_trigger_once(
    service: tuple[OrderService, list[Trigger]],
) -> None:
    orders, heard = service
    await contact("c", external_id="wm_c")
    batch = [
        json_order("P1", external_id="wm_c", product="待产包", channel="小程序", account_id="a1"),
        json_order("P2", external_id="wm_c", status="cancelled"),  # not paid: nothing
        json_order("P3", external_id="wm_stranger"),  # nobody we know: nothing
        json_order("P4", external_id="wm_c", placed_at="2026-11-01 10:00"),  # history
    ]
    await orders.ingest(batch, "csv")
    assert [(t.kind, t.contact_id, t.value, t.account_id) for t in heard] == [
        ("order", "c", "待产包", "a1")
    ]
    assert heard[0].detail == {"order_id": "P1", "amount_cents": "9900", "channel": "小程序"}
    assert heard[0].at == datetime(2026, 11, 24, 10, 0, tzinfo=TZ)
    await orders.ingest(batch, "api")  # imported again: never again
    changed = [{**batch[0], "amount": "88", "product": "待产包 Pro"}]
    assert (await orders.ingest(changed, "api")).updated == 1  # nor when it changes
    assert len(heard) == 1
    # The cancelled order is paid after all: that is news, once.
    await orders.ingest([json_order("P2", external_id="wm_c", amount="5")], "api")
    await orders.ingest([json_order("P2", external_id="wm_c", amount="5")], "api")
    assert [t.detail["order_id"] for t in heard] == ["P1", "P2"]


async def test_an_order_linked_later_fires_when_it_is_recent(
    service: tuple[OrderService, list[Trigger]],
) -> None:
    orders, heard = service
    await orders.ingest(
        [
            json_order("L1", unionid="u_late"),
            json_order("L2", unionid="u_late", placed_at="2026-10-01 10:00"),
        ],
        "api",
    )
    await contact("late", unionid="u_late")
    assert await orders.announce(await store.rematch()) == 1
    assert [t.detail["order_id"] for t in heard] == ["L1"]


# ------------------------------------------------------------------ mamabot import-orders


def project(tmp_path: Path, database_url: str, config: str = "") -> tuple[Path, str]:
    """A private project; an emptied database for it."""
    copy_project(tmp_path)
    if config:
        path = tmp_path / "config.toml"
        path.write_text(path.read_text(encoding="utf-8") + config, encoding="utf-8")

    async def empty() -> None:
        db = Database(database_url)
        await db.open()
        await db.truncate_all()
        await db.close()

    asyncio.run(empty())
    return tmp_path, database_url


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def import_orders(base: Path, db: str, file: Path, capsys: Any) -> tuple[int, str, str]:
    code = main(["import-orders", str(file), "--dir", str(base), "--db", db])
    out, err = capsys.readouterr()
    return code, out, err


def stored(db_url: str) -> dict[str, dict[str, Any]]:
    async def read() -> dict[str, dict[str, Any]]:
        db = Database(db_url)
        await db.open()
        try:
            return {o.order_id: await store.get(o.order_id) or {} for o in await Order.all()}
        finally:
            await db.close()

    return asyncio.run(read())


ROWS = [
    HEADER,
    "T1,wm_1,,,¥1288.50,2026-11-20 14:30,已付款,待产包,小红书",
    "T2,,u_2,+86 138 0000 0002,99,2026/11/21 09:00:00,已退款,奶粉,",
    'T3,,,,"1,000.00",2026-11-22,交易成功,"婴儿车, 豪华款",抖音',
]


def test_import_is_idempotent_and_a_changed_row_is_updated(
    tmp_path: Path, database_url: str, capsys: Any
) -> None:
    base, db = project(tmp_path, database_url)
    file = write_csv(tmp_path / "orders.csv", ROWS)
    code, out, err = import_orders(base, db, file, capsys)
    assert code == 0, err
    assert (
        out == f"imported {file}: 3 rows, 3 created, 0 updated, 0 unchanged, 3 unmatched, 0 bad\n"
    )
    orders = stored(db)
    assert orders["T1"]["amount_cents"] == 128850 and orders["T1"]["channel"] == "小红书"
    assert (orders["T2"]["status"], orders["T2"]["phone"]) == ("refunded", "13800000002")
    assert orders["T3"]["product"] == "婴儿车, 豪华款" and orders["T3"]["amount_cents"] == 100000
    assert orders["T1"]["source"] == "csv"

    code, out, _ = import_orders(base, db, file, capsys)
    assert (code, out) == (
        0,
        f"imported {file}: 3 rows, 0 created, 0 updated, 3 unchanged, 3 unmatched, 0 bad\n",
    )
    write_csv(file, [*ROWS[:3], ROWS[3].replace("交易成功", "交易关闭")])
    code, out, _ = import_orders(base, db, file, capsys)
    assert "0 created, 1 updated, 2 unchanged" in out and code == 0
    assert stored(db)["T3"]["status"] == "cancelled"


def test_bad_rows_are_reported_by_line_and_the_rest_imported(
    tmp_path: Path, database_url: str, capsys: Any
) -> None:
    base, db = project(tmp_path, database_url)
    file = write_csv(
        tmp_path / "orders.csv",
        [
            HEADER,
            "B1,,,,10,2026-11-20 10:00,已付款,a,",
            ",,,,10,2026-11-20 10:00,已付款,no id,",  # line 3
            "",  # a blank line is no row
            "B2,,,,ten yuan,2026-11-20 10:00,已付款,b,",  # line 5
            'B3,,,,10,2026-11-20 10:00,已付款,"two',  # line 6: a cell over two lines
            'lines",',
            "B4,,,,10,20.11.2026,已付款,d,",  # line 8
            "B5,,,,10,2026-11-20 10:00,发货中,e,",  # line 9
        ],
    )
    code, out, err = import_orders(base, db, file, capsys)
    assert code == 2
    assert (
        out == f"imported {file}: 6 rows, 2 created, 0 updated, 0 unchanged, 2 unmatched, 4 bad\n"
    )
    assert err.splitlines() == [
        "line 3: 订单号 is missing",
        "line 5: 实付金额 'ten yuan' is not an amount in yuan",
        "line 8: 下单时间 '20.11.2026' is not a date and time (YYYY-MM-DD HH:MM[:SS] or ISO 8601)",
        "line 9: 订单状态 '发货中' is not a known status (paid, refunded, cancelled, or a word "
        "listed in [orders])",
    ]
    assert sorted(stored(db)) == ["B1", "B3"]
    assert stored(db)["B3"]["product"] == "two\nlines"


def test_gbk_file_and_a_column_mapping_from_config(
    tmp_path: Path, database_url: str, capsys: Any
) -> None:
    mapping = """
[orders]
columns = { order_id = "单号", contact_id = "客户", amount = "金额", placed_at = "时间", account_id = "账号" }
encoding = "gbk"
"""
    base, db = project(tmp_path, database_url)
    config = base / "config.toml"
    original = config.read_text(encoding="utf-8")
    start = original.index("[orders]")
    end = original.index("[rfm]")
    config.write_text(
        original[:start] + mapping.strip() + "\n\n" + original[end:], encoding="utf-8"
    )
    file = write_csv(
        tmp_path / "erp.csv",
        ["时间,单号,金额,客户,账号,备注", "2026-11-20 08:00,G1,58.8,wxid_g,acct1,老客户"],
        encoding="gbk",
    )
    code, out, err = import_orders(base, db, file, capsys)
    assert code == 0, err
    assert out.endswith("1 rows, 1 created, 0 updated, 0 unchanged, 1 unmatched, 0 bad\n")
    g1 = stored(db)["G1"]
    assert (g1["amount_cents"], g1["account_id"], g1["status"]) == (5880, "acct1", "paid")

    # The same file read as UTF-8 is refused whole, with the setting to change.
    config.write_text(config.read_text(encoding="utf-8").replace('"gbk"', '"utf-8"'), "utf-8")
    code, _out, err = import_orders(base, db, file, capsys)
    assert code == 1 and "is not utf-8 text (set [orders] encoding" in err


def test_nothing_readable_exits_1_and_says_why(
    tmp_path: Path, database_url: str, capsys: Any
) -> None:
    base, db = project(tmp_path, database_url)
    code, out, err = import_orders(base, db, tmp_path / "missing.csv", capsys)
    assert (code, out) == (1, "") and "cannot read" in err and "missing.csv" in err
    file = write_csv(tmp_path / "wrong.csv", ["order,amount,time", "X1,10,2026-11-20"])
    code, out, err = import_orders(base, db, file, capsys)
    assert (code, out) == (1, "")
    assert "has no column '订单号' (order_id)" in err
    assert "its columns are: 'order', 'amount', 'time'" in err
    empty = write_csv(tmp_path / "empty.csv", [])
    assert import_orders(base, db, empty, capsys)[0] == 1
    assert stored(db) == {}


ORDER_SEQUENCE = """
[[sequences]]
id = "after-order"
triggers = [{ on = "order" }]
steps = [{ id = "thanks", add_tags = ["已下单"] }]
"""


def test_an_imported_order_enrols_her_in_a_sequence_on_orders_once(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command runs on the system clock; the window of recent orders is tested with a
    # fake clock above, so here every order counts as recent.
    copy_project(tmp_path)
    config = tmp_path / "config.toml"
    text = config.read_text(encoding="utf-8")
    assert "trigger_within_days = 7 " in text
    config.write_text(
        text.replace("trigger_within_days = 7 ", "trigger_within_days = 73000 ", 1),
        encoding="utf-8",
    )
    (tmp_path / "content" / "sequences.toml").write_text(ORDER_SEQUENCE, encoding="utf-8")
    db = f"sqlite://{tmp_path}/bot.sqlite3"

    async def mother() -> None:
        async with BotUnderTest(tmp_path, database_url=db) as bot:
            await bot.friend_request("c", "小红", "你好")
            await bot.says("c", "孕24周")
            await Contact.filter(contact_id="c").update(phone="13800000009")

    async def enrolled() -> list[tuple[str, str]]:
        async with BotUnderTest(tmp_path, database_url=db):
            return [(e.sequence_id, e.trigger) for e in await enrolments.of_contact("c")]

    asyncio.run(mother())
    file = write_csv(
        tmp_path / "o.csv", [HEADER, "E1,,,13800000009,99,2026-11-24 10:00,已付款,待产包,"]
    )
    assert import_orders(tmp_path, db, file, capsys)[0] == 0
    assert asyncio.run(enrolled()) == [("after-order", "order:待产包")]
    assert import_orders(tmp_path, db, file, capsys)[0] == 0
    assert asyncio.run(enrolled()) == [("after-order", "order:待产包")]


async def test_the_phone_on_her_card_matches_her_orders(tmp_path: Path) -> None:
    copy_project(tmp_path)
    async with BotUnderTest(tmp_path) as bot:
        bot.world.add_contact("wx_mom", "小红")
        bot.world.add_contact("wx_other", "小兰")
        bot.world.phones["wx_mom"] = "+86 138-0013-8000"
        bot.world.phones["wx_other"] = ""  # a card with no number: nothing recorded
        await bot.friend_request("wx_mom", "小红", "你好")
        await bot.friend_request("wx_other", "小兰", "你好")
        # The feature's own service, as the API reaches it.
        orders = next(f for f in bot.app.features if f.name == "orders").exports["service"]
        report = await orders.ingest(
            [{"order_id": "P1", "phone": "13800138000", "amount": "99", "placed_at": "2026-11-24"}],
            "api",
        )
        assert report.as_json()["unmatched"] == 0
        (mine,) = await store.orders_of("wx_mom")
        assert mine["order_id"] == "P1"
        assert await store.orders_of("wx_other") == []


# ------------------------------------------------------------------ the review's cases


async def test_forgetting_her_leaves_other_mothers_orders_that_share_her_ids(
    db: Database,
) -> None:
    # A family phone on two cards: B's orders are B's, whatever ids they share with A.
    await contact("A", phone="13800138000", unionid="u_fam")
    await contact("B", phone="13800138000")
    await contact("wmB")
    await store.upsert(
        [
            order("B1", contact_id="B", phone="13800138000"),
            order("B2", external_id="wmB", phone="13800138000", unionid="u_fam"),
            order("A1", unionid="u_fam"),  # hers
            order("N1", phone="13800138000"),  # nobody's (the phone is shared): it names her
        ],
        "api",
        START,
    )
    await privacy.forget("A")
    rows = {o.order_id: o for o in await Order.all()}
    assert (rows["B1"].contact_id, rows["B1"].phone) == ("B", "13800138000")
    assert (rows["B2"].contact_id, rows["B2"].unionid) == ("wmB", "u_fam")
    for key in ("A1", "N1"):
        assert (rows[key].contact_id, rows[key].unionid, rows[key].phone) == (None, None, None)
        assert (rows[key].forgotten, rows[key].source) == (True, "api")


async def test_after_forget_a_re_import_never_names_or_links_her_again(
    service: tuple[OrderService, list[Trigger]],
) -> None:
    orders, heard = service
    # WeCom: her contact id is her external id, and the ERP names her by it.
    await contact("wm_A", phone="13800138000")
    sent = [json_order("A1", external_id="wm_A", phone="13800138000")]
    await orders.ingest(sent, "api")
    assert len(heard) == 1
    await privacy.opt_out("wm_A", START)  # 退订 first: a bare row of her id stays
    await privacy.forget("wm_A")
    assert await Contact.exists(contact_id="wm_A")
    report = await orders.ingest([*sent, json_order("A2", contact_id="wm_A")], "csv")
    assert (report.unchanged, report.created, report.unmatched) == (1, 1, 2)
    a1 = await store.get("A1") or {}
    assert (a1["contact_id"], a1["external_id"], a1["phone"]) == (None, None, None)
    assert (a1["amount_cents"], a1["source"], a1["forgotten"]) == (9900, "api", True)
    # A changed amount still counts in the revenue; her ids still do not come back.
    await orders.ingest([{**sent[0], "amount": "120", "status": "refunded"}], "api")
    a1 = await store.get("A1") or {}
    assert (a1["amount_cents"], a1["status"], a1["phone"]) == (12000, "refunded", None)
    assert await store.rematch() == []
    assert (await store.get("A2") or {})["contact_id"] is None  # the bare row names nobody
    assert len(heard) == 1
    # She comes back as a friend: a contact again, and a new order is hers.
    await Contact.filter(contact_id="wm_A").update(name="小红", is_friend=True)
    await orders.ingest([json_order("A3", external_id="wm_A")], "api")
    assert (await store.get("A3") or {})["contact_id"] == "wm_A"
    assert (await store.get("A1") or {})["contact_id"] is None


async def test_concurrent_writers_of_the_same_orders_both_succeed(
    service: tuple[OrderService, list[Trigger]],
) -> None:
    orders, _heard = service
    ids = [f"O{i:03d}" for i in range(300)]
    forward = [json_order(i) for i in ids]
    backward = [json_order(i, product="x") for i in reversed(ids)]
    reports = await asyncio.gather(orders.ingest(forward, "csv"), orders.ingest(backward, "api"))
    assert sum(r.created for r in reports) == 300
    assert all(r.errors == [] for r in reports)
    assert await Order.all().count() == 300


async def test_a_deadlock_or_serialization_failure_runs_the_batch_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Deadlock(Exception):
        sqlstate = "40P01"

    real = store._upsert
    failures = [Deadlock("deadlock detected"), RuntimeError("wrapped")]
    failures[1].__cause__ = type("Serialization", (Exception,), {"sqlstate": "40001"})()

    async def flaky(*args: Any) -> store.UpsertResult:
        if failures:
            raise failures.pop(0)
        return await real(*args)

    monkeypatch.setattr(store, "_upsert", flaky)
    assert (await store.upsert([order("R1")], "api", START)).created == 1
    failures.append(ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):  # anything else is not retried
        await store.upsert([order("R2")], "api", START)


async def test_paid_refunded_paid_again_fires_once(
    service: tuple[OrderService, list[Trigger]],
) -> None:
    orders, heard = service
    await contact("c", phone="13800138000")
    for status in ("paid", "refunded", "paid", "cancelled", "paid"):
        await orders.ingest([json_order("P1", phone="13800138000", status=status)], "api")
    assert [t.detail["order_id"] for t in heard] == ["P1"]


async def test_rematch_racing_an_import_fires_once(
    service: tuple[OrderService, list[Trigger]], monkeypatch: pytest.MonkeyPatch
) -> None:
    orders, heard = service
    await orders.ingest([json_order("L1", phone="13800138000")], "api")  # nobody yet
    await contact("late", phone="13800138000")
    real = store.resolve
    raced: list[bool] = []

    async def resolve_while_the_api_sends_it_again(keys: Any) -> list[str | None]:
        found = await real(keys)
        if not raced:
            raced.append(True)  # meanwhile the API re-sends it: it links her and fires
            await orders.ingest([json_order("L1", phone="13800138000", product="x")], "api")
        return found

    monkeypatch.setattr(store, "resolve", resolve_while_the_api_sends_it_again)
    linked = await store.rematch()
    monkeypatch.setattr(store, "resolve", real)
    assert linked == []  # the import told of it
    await orders.announce(linked)
    assert [t.detail["order_id"] for t in heard] == ["L1"]


async def test_a_corrected_order_that_names_someone_unknown_is_no_longer_hers(
    service: tuple[OrderService, list[Trigger]],
) -> None:
    orders, _heard = service
    await contact("A", phone="13800000001")
    await orders.ingest([json_order("P1", phone="13800000001")], "api")
    assert (await store.get("P1") or {})["contact_id"] == "A"
    # The shop corrects it: another customer placed it, whom nobody here knows.
    report = await orders.ingest([json_order("P1", phone="13900000009")], "api")
    assert (report.updated, report.unmatched) == (1, 1)
    assert (await store.get("P1") or {})["contact_id"] is None
    # Sent again unchanged after a rematch linked it: the link stays.
    await contact("B", phone="13900000009")
    await store.rematch()
    await Contact.filter(contact_id="B").update(phone="13911111111")  # her card changed
    assert (await orders.ingest([json_order("P1", phone="13900000009")], "api")).unchanged == 1
    assert (await store.get("P1") or {})["contact_id"] == "B"


async def test_a_contact_id_the_sender_knows_before_we_do_is_kept_for_rematch(
    service: tuple[OrderService, list[Trigger]],
) -> None:
    orders, heard = service
    report = await orders.ingest([json_order("P2", contact_id="wx_new")], "api")
    assert report.unmatched == 1
    await contact("wx_new")
    assert await orders.announce(await store.rematch()) == 1
    assert (await store.get("P2") or {})["contact_id"] == "wx_new"
    assert [t.contact_id for t in heard] == ["wx_new"]


async def test_changed_orders_are_written_in_one_statement(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.upsert([order(f"U{i}") for i in range(50)], "csv", START)
    batches: list[int] = []
    real = store.sql.execute_many

    async def count(model: Any, statement: str, rows: list[list[Any]]) -> None:
        batches.append(len(rows))
        await real(model, statement, rows)

    async def one_by_one(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an order saved by itself")

    monkeypatch.setattr(store.sql, "execute_many", count)
    monkeypatch.setattr(Order, "save", one_by_one)
    result = await store.upsert([order(f"U{i}", product="新") for i in range(50)], "csv", START)
    assert result.updated == 50
    assert batches == [50]
    assert {o.product for o in await Order.all()} == {"新"}


@pytest.mark.parametrize("value", ["1,5", "12,50", "1,2345", ",100", "1,000,00", "1.000,50"])
def test_a_comma_is_only_a_thousands_separator(value: str) -> None:
    with pytest.raises(OrderError, match="a comma only separates thousands"):
        parse_amount(value)


def test_thousands_separators_are_read() -> None:
    assert parse_amount("12,345,678.90") == 1234567890
    assert parse_amount("¥1，288") == 128800  # a full-width comma too


async def test_an_order_placed_more_than_a_day_ahead_is_refused(
    service: tuple[OrderService, list[Trigger]],
) -> None:
    orders, _heard = service
    report = await orders.ingest(
        [
            json_order("F1", placed_at="2026-11-26 08:59"),  # START + 23:59: clocks differ
            json_order("F2", placed_at="2026-11-26 09:01"),
            json_order("F3", placed_at="2027-11-24"),
        ],
        "api",
    )
    assert report.created == 1
    assert [(e.order_id, e.error) for e in report.errors] == [
        ("F2", "placed_at: '2026-11-26 09:01' is in the future"),
        ("F3", "placed_at: '2027-11-24' is in the future"),
    ]


@pytest.mark.parametrize(("field", "value"), [("order_id", "1.23457E+17"), ("phone", "1.38E+10")])
async def test_excels_scientific_notation_is_refused(
    service: tuple[OrderService, list[Trigger]], field: str, value: str
) -> None:
    orders, _heard = service
    report = await orders.ingest([{**json_order("S1"), field: value}], "api")
    (error,) = report.errors
    assert error.error.startswith(f"{field}: {value!r} is in scientific notation")
    assert "format the column as text" in error.error
    assert report.created == 0


def test_a_repeated_order_id_a_short_row_and_a_stray_quote_are_bad_rows(
    tmp_path: Path, database_url: str, capsys: Any
) -> None:
    base, db = project(tmp_path, database_url)
    file = write_csv(
        tmp_path / "orders.csv",
        [
            HEADER,
            "D1,,,,10,2026-11-20 10:00,已付款,a,",
            "D2,,,,20,2026-11-20 10:00,已付款,b,",
            "D1,,,,99,2026-11-20 10:00,已付款,changed,",  # line 4: D1 again
            "D3,,,,10,2026-11-20 10:00,已付款",  # line 5: a cell short
            "D4,,,,10,2026-11-20 10:00,已付款,d,x,extra",  # line 6: one too many
            'D5,,,,99,2026-11-20 14:30,已付款,"婴儿车 豪华款,小红书',  # line 7: never closed
            "D6,,,,199,2026-11-20 15:30,已付款,奶粉,抖音",
            'D7,,,,399,2026-11-20 17:30,已付款,"湿巾 "大包"",抖音',
            "D8,,,,499,2026-11-20 18:30,已付款,玩具,抖音",  # line 10
            "1.23457E+17,,,,10,2026-11-20 10:00,已付款,e,",  # line 11
        ],
    )
    code, out, err = import_orders(base, db, file, capsys)
    assert code == 2
    assert out.endswith("8 rows, 3 created, 0 updated, 0 unchanged, 3 unmatched, 5 bad\n")
    assert err.splitlines() == [
        "line 4: order id D1 also on line 2",
        "line 5: 7 cells where the header has 9",
        "line 6: 10 cells where the header has 9",
        "line 7: a quote opened here runs to line 9, over lines that look like rows "
        "(a stray quote?)",
        "line 11: 订单号 '1.23457E+17' is in scientific notation (Excel shortened the number "
        "and its last digits are lost): format the column as text and export again",
    ]
    orders = stored(db)
    assert sorted(orders) == ["D1", "D2", "D8"]
    assert orders["D1"]["product"] == "a"  # the first stays


def test_a_tab_separated_export_with_the_delimiter_set(
    tmp_path: Path, database_url: str, capsys: Any
) -> None:
    base, db = project(tmp_path, database_url)
    config = base / "config.toml"
    text = config.read_text(encoding="utf-8")
    assert 'delimiter = ","' in text
    config.write_text(text.replace('delimiter = ","', 'delimiter = "\\t"', 1), "utf-8")
    file = write_csv(
        tmp_path / "orders.tsv",
        [HEADER.replace(",", "\t"), "T1\t\t\t\t1,288.50\t2026-11-20 10:00\t已付款\t奶粉, 大罐\t"],
    )
    code, _out, err = import_orders(base, db, file, capsys)
    assert code == 0, err
    t1 = stored(db)["T1"]
    assert (t1["amount_cents"], t1["product"]) == (128850, "奶粉, 大罐")


def test_a_file_in_another_encoding_stops_after_a_hundred_bad_lines(
    tmp_path: Path, database_url: str, capsys: Any
) -> None:
    base, db = project(tmp_path, database_url)
    rows = [
        f"G{i},99,2026-11-20 14:30,待产包{i}\n".encode("gbk" if i % 2 else "utf-8")
        for i in range(1000)
    ]
    file = tmp_path / "mixed.csv"
    config = base / "config.toml"
    text = config.read_text(encoding="utf-8")
    start, end = text.index("columns = {"), text.index("}\n", text.index("columns = {"))
    mapping = 'columns = { order_id = "order", amount = "实付金额", placed_at = "下单时间" '
    config.write_text(text[:start] + mapping + text[end:], "utf-8")
    file.write_bytes("order,实付金额,下单时间,商品名称\n".encode() + b"".join(rows))
    code, out, err = import_orders(base, db, file, capsys)
    assert code == 1
    lines = err.splitlines()
    assert lines[:2] == [
        "line 3: not utf-8-sig text (set [orders] encoding)",
        "line 5: not utf-8-sig text (set [orders] encoding)",
    ]
    assert len(lines) == 100
    assert lines[-1] == (
        "mamabot import-orders: line 201: stopped: 100 lines are not utf-8-sig text (set "
        '[orders] encoding, e.g. "gbk"); the rows before it were imported, none after'
    )
    assert out.endswith("199 rows, 100 created, 0 updated, 0 unchanged, 100 unmatched, 99 bad\n")
    assert len(stored(db)) == 100

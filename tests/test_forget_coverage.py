"""Deleting her data reaches every table that holds her id.

A column holds a contact id when it is named contact_id, by, or ends in a role's id
(owner_id, inviter_id, remover_id, ...; not room, account, event, dialog or row ids) or
in _by (handled_by: the staff member who acted).
Each one must say in storage.privacy.FORGET_COVERS what `forget` does with it. Then a
mother who is in every such table is forgotten, and no row still carries her id.
"""

from __future__ import annotations

from datetime import datetime

from storage import privacy, work
from storage.db import Database
from storage.models import (
    ALL_MODELS,
    Contact,
    ContactTag,
    DialogState,
    GuardAllow,
    GuardAudit,
    GuardFeedback,
    Interaction,
    PendingWelcome,
    Profile,
    Room,
    RoomMembership,
    Tag,
    TagEvent,
    WorkItem,
)
from tests.harness import BotUnderTest

AT = datetime.fromisoformat("2026-11-25T09:00:00+08:00")
NOT_PEOPLE = {
    "id", "room_id", "account_id", "event_id", "dialog_id", "request_id", "tag_id",
    "sequence_id", "post_id", "link_id", "respond_by", "order_id",
}  # fmt: skip


def contact_columns() -> set[str]:
    found = set()
    for model in ALL_MODELS:
        table = model._meta.db_table
        for name in model._meta.fields_db_projection.values():
            if name in NOT_PEOPLE:
                continue
            if name == "contact_id" or name == "by" or name.endswith(("_id", "_by")):
                found.add(f"{table}.{name}")
    found.add("outbox_message.payload")  # "to" / "contact" inside the JSON
    return found


def test_every_contact_column_is_covered_by_forget() -> None:
    missing = sorted(contact_columns() - set(privacy.FORGET_COVERS))
    assert not missing, f"forget() says nothing about: {missing}"
    stale = sorted(set(privacy.FORGET_COVERS) - contact_columns())
    assert not stale, f"FORGET_COVERS names columns that do not exist: {stale}"


async def test_after_forget_no_row_carries_her_id(database_url: str) -> None:
    db = Database(database_url)
    await db.open()
    await db.truncate_all()
    try:
        her = "wxid_her"
        await Contact.create(contact_id=her, name="小红", first_seen_at=AT, updated_at=AT)
        await Profile.create(contact_id=her, updated_at=AT)
        tag = await Tag.create(name="VIP", created_at=AT)
        await ContactTag.create(contact_id=her, tag=tag, source="admin", added_at=AT)
        await TagEvent.create(contact_id=her, tag="VIP", op="add", source="admin", at=AT)
        await DialogState.create(
            contact_id=her,
            flow="intake",
            account_id="a",
            dialog_id="intake",
            asked_at=AT,
            due_at=AT,
        )
        await PendingWelcome.create(
            account_id="a", room_id="R1", contact_id=her, joined_at=AT, event_id="e1"
        )
        await WorkItem.create(kind="dialog_due", key="k1", due_at=AT, contact_id=her, created_at=AT)
        await Interaction.create(
            at=AT, account_id="a", event_id=f"join:{her}", kind="join", contact_id=her
        )
        await RoomMembership.create(
            room_id="R1", contact_id=her, inviter_id=her, remover_id=her, joined_at=AT
        )
        await Room.create(room_id="R2", account_id="a", owner_id=her, updated_at=AT)
        await GuardAudit.create(at=AT, contact_id=her, action="warn", by=her, text="广告")
        await GuardFeedback.create(label="ham", text="你好", by=her, at=AT)
        await GuardAllow.create(contact_id=her, at=AT)
        await privacy.forget(her)
        left = []
        for model in ALL_MODELS:
            table = model._meta.db_table
            for column in model._meta.fields_db_projection.values():
                key = f"{table}.{column}"
                cover = privacy.FORGET_COVERS.get(key, "kept")
                if cover.startswith("kept") or key == "outbox_message.payload":
                    continue  # the outbox's JSON: tests/test_conversation_privacy.py
                if await model.filter(**{column: her}).exists():
                    left.append(key)
        assert left == []
    finally:
        await db.truncate_all()
        await db.close()


async def test_a_welcome_row_naming_her_is_forgotten_with_her() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", "owner1", ["owner1", "m1"])
        await bot.join("R1", "m1", "小美")
        rows = await work.rows("welcome_batch")
        assert rows and all(r.contact_id == "m1" for r in rows)
        await bot.app.forget("m1")
        assert [r.key for r in await work.rows() if "m1" in r.key] == []


def test_every_text_column_is_scrubbed_or_says_why_not() -> None:
    """Her id and name can be inside any text (a notice, a dedupe key, a dead letter): every
    text and JSON column is scrubbed by `forget`, or SCRUB_SKIPS says why it is not."""
    every = {
        f"{model._meta.db_table}.{column}"
        for model in ALL_MODELS
        for _name, column, _is_json in privacy.text_columns(model)
    }
    assert set(privacy.SCRUB_SKIPS) <= every, "SCRUB_SKIPS names columns that do not exist"
    assert set(privacy.scrubbed_columns()) == every - set(privacy.SCRUB_SKIPS)
    for place in (
        "outbox_message.payload",
        "outbox_message.dedupe_key",
        "interaction.text",
        "interaction.event_id",
        "work.key",
        "work.payload",
        "dead_letter.payload",
        "guard_audit.text",
    ):
        assert place in privacy.scrubbed_columns()


def test_the_scrubber_takes_her_out_and_nobody_else() -> None:
    scrub = privacy.Scrubber("b", "anon-1", ["小美", "琳"])
    assert scrub.text("#踢 b 发广告") == "#踢 anon-1 发广告"
    assert scrub.text("bb wxid_b1 b-2 join:R1:b:17") == "bb wxid_b1 b-2 join:R1:anon-1:17"
    assert scrub.text("欢迎 @小美 @琳 @琳达") == f"欢迎 @{privacy.FORGOTTEN_NAME} @某成员 @琳达"
    assert scrub.text("小琳和琳琳") == "小琳和琳琳"  # a one-character name only as an @mention
    assert scrub.json({"to": "b", "mentions": ["b", "c"], "text": "@小美 你好"}) == {
        "to": "anon-1",
        "mentions": ["c"],
        "text": "@某成员 你好",
    }
    letter = '{"name": "\\u5c0f\\u7f8e", "to": "b"}'
    assert privacy.Scrubber("b", "anon-1", ["小美"]).escaped_text(letter) == (
        '{"name": "\\u67d0\\u6210\\u5458", "to": "anon-1"}'
    )


async def test_a_name_that_is_a_word_rewrites_no_code_and_no_key(db: Database) -> None:
    """A display name like "sent" or "text" is replaced in prose only: never in a status,
    a kind, or a JSON key."""
    from storage.models import OutboxMessage

    await OutboxMessage.create(
        dedupe_key="k1",
        account_id="acct",
        action="say",
        payload={"room": "R1", "to": None, "text": "sent 你好", "mentions": []},
        status="sent",
        due_at=AT,
        created_at=AT,
    )
    await privacy.scrub_everywhere(privacy.Scrubber("wxid_x", "anon-1", ["sent", "text"]))
    row = await OutboxMessage.get(dedupe_key="k1")
    assert row.status == "sent" and set(row.payload) == {"room", "to", "text", "mentions"}
    assert row.payload["text"] == f"{privacy.FORGOTTEN_NAME} 你好"  # prose: her name goes

"""A mother's control over her data: 退订 (no marketing), and 删除我的信息 (forget her).

`forget` deletes her profile, tags (and their history), dialog state, pending welcomes, the
private messages sent to her and her contact row, and anonymises what must stay for the
group statistics: her interactions (text removed) and room memberships get one random id
that cannot be traced back to her (her rows stay linked to each other, so counts such as
"active members" remain right). Her orders stay in the revenue figures as nobody's: who
placed them and the ids they named her by are cleared. Her RFM score goes.

Her id and name also sit inside other rows: the group's welcome that @mentioned her, the
owner's notice "已将 <id> 移出群聊", an admin's "#踢 <id>", dedupe keys and work keys built
from event ids, a refused row set aside in dead_letter. `forget` scrubs every text and JSON
column of every table (SCRUB_SKIPS lists the few it leaves alone, and why): her id becomes
the same random id, her name becomes FORGOTTEN_NAME, and she leaves every list of people
(the @mentions of a send). The group keeps its record of what was said, without her.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from tortoise import fields
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.transactions import in_transaction

from storage import dead_letter
from storage.models import (
    ALL_MODELS,
    CareState,
    Contact,
    ContactTag,
    DeadLetter,
    DialogState,
    Enrollment,
    Escalation,
    GuardAllow,
    GuardAudit,
    GuardFeedback,
    Interaction,
    MarketingSend,
    MetricActivity,
    MetricEvent,
    MetricFriend,
    MetricLast,
    Order,
    OutboxMessage,
    PendingWelcome,
    Profile,
    RfmScore,
    Room,
    RoomMembership,
    TagEvent,
    TrackedLink,
    WorkItem,
)
from storage.people import SUPPRESSION_MARK

log = logging.getLogger(__name__)

# Every column that holds a contact id, and what `forget` does with it. A test walks the
# models and fails when a table gains such a column that is not listed here, so a new
# table cannot keep her data after she asked us to delete it. (Feature modules will bring
# their own forget hooks; until then this is the one list.)
FORGET_COVERS: dict[str, str] = {
    "contact.contact_id": "deleted (a bare row stays if she opted out: 退订 survives)",
    "profile.contact_id": "deleted",
    "contact_tag.contact_id": "deleted",
    "tag_event.contact_id": "deleted",
    "dialog_state.contact_id": "deleted",
    "pending_welcome.contact_id": "deleted",
    "work.contact_id": "deleted (reminders and steps about her)",
    "interaction.contact_id": "anonymised, text removed",
    "room_membership.contact_id": "anonymised",
    "room_membership.inviter_id": "anonymised",
    "room_membership.remover_id": "anonymised",
    "room.owner_id": "anonymised",
    "guard_audit.contact_id": "anonymised, text removed",
    "guard_audit.by": "anonymised",
    "guard_feedback.by": "anonymised",
    "guard_allow.contact_id": "deleted",
    "guard_ban.contact_id": "kept: a ban survives deletion, or it would be a way back in",
    "outbox_message.payload": "private sends to her deleted; group sends stay, scrubbed",
    "enrollment.contact_id": "deleted (her place in nurture sequences)",
    "marketing_send.contact_id": "anonymised (the counts of what was sent stay)",
    "tracked_link.contact_id": "cleared (click counts stay; a click tags nobody)",
    "escalation.contact_id": "anonymised, text removed (response times stay)",
    "escalation.handled_by": "anonymised (as staff)",
    "care_state.contact_id": "deleted (a stop after a loss stays, as a bare row: like 退订)",
    "care_state.takeover_by": "anonymised (as staff)",
    "contact.external_id": "deleted with her contact row (a bare 退订 row keeps none of her "
    "ids: its external id is SUPPRESSION_MARK, which names nobody)",
    "shop_order.contact_id": "cleared, with her ids on the order (amounts stay: revenue); "
    "marked forgotten, never linked again",
    "shop_order.external_id": "cleared on her orders and on unlinked orders that name her",
    "rfm_score.contact_id": "deleted",
    "metric_activity.contact_id": "anonymised, as her interactions (the daily counts stay)",
    "metric_event.contact_id": "anonymised, as her interactions (the daily counts stay)",
    "metric_last.contact_id": "anonymised, as her interactions (the daily counts stay)",
    "metric_friend.contact_id": "anonymised, as her interactions (new friend counts stay)",
    "bot_identity.self_id": "kept: a bot account's own id, nobody's personal data",
}

# How she is named in the group's records once she is forgotten.
FORGOTTEN_NAME = "某成员"
# A name this short is scrubbed only as an @mention: as a bare word it is too common.
MIN_BARE_NAME = 2
# Text columns `forget` does not scrub, and why. Every other text or JSON column of every
# table is scrubbed of her id and name (a test walks the models).
SCRUB_SKIPS: dict[str, str] = {
    "contact.name": "other people's names: hers goes with her row",
    "pending_welcome.name": "other people's names: hers goes with her row",
    "room.topic": "a group's name, which room selectors match",
    "tag.name": "ops' words for a segment, shared by many",
    "guard_ban.contact_id": "kept: a ban survives deletion (FORGET_COVERS)",
}
_ID_CHARS = re.compile(r"[A-Za-z0-9_\-]")
_PAGE = 1000


async def opt_out(contact_id: str, now: datetime) -> bool:
    """Stop marketing sends to her. False when she had already opted out."""
    contact, _ = await Contact.get_or_create(
        contact_id=contact_id, defaults={"first_seen_at": now, "updated_at": now}
    )
    if contact.opted_out_at is not None:
        return False
    contact.opted_out_at = now
    contact.updated_at = now
    await contact.save(update_fields=["opted_out_at", "updated_at"])
    await DialogState.filter(contact_id=contact_id).delete()  # no more questions either
    return True


async def opt_in(contact_id: str, now: datetime) -> bool:
    """Marketing sends again. False when she was not opted out."""
    contact = await Contact.get_or_none(contact_id=contact_id)
    if contact is None or contact.opted_out_at is None:
        return False
    contact.opted_out_at = None
    contact.updated_at = now
    await contact.save(update_fields=["opted_out_at", "updated_at"])
    return True


async def can_market(contact_id: str) -> bool:
    """Whether scheduled and nurture sends (and the questions of dialogs she did not start)
    may reach her: not after 退订, not while she is no longer a friend (she deleted the
    bot: each send would bounce, and WeChat watches accounts that write to strangers), and
    not after care stopped them (a loss)."""
    held = Q(opted_out_at__isnull=False) | Q(unfriended_at__isnull=False)
    if await Contact.filter(held, contact_id=contact_id).exists():
        return False
    return not await CareState.filter(
        contact_id=contact_id, marketing_stopped_at__isnull=False
    ).exists()


async def is_known(contact_id: str) -> bool:
    """Whether any table holds a row about her: `mamabot forget` with a mistyped id says
    so instead of reporting zeros."""
    about_her: list[type[Model]] = [
        Contact,
        Profile,
        ContactTag,
        TagEvent,
        DialogState,
        PendingWelcome,
        Interaction,
        RoomMembership,
        GuardAudit,
        GuardAllow,
        WorkItem,
        Enrollment,
        MarketingSend,
        TrackedLink,
        Escalation,
        CareState,
        Order,
        RfmScore,
    ]
    for model in about_her:
        if await model.filter(contact_id=contact_id).exists():
            return True
    return False


async def forget(contact_id: str, names: Iterable[str] = ()) -> dict[str, int]:
    """Delete and anonymise everything about her, in one transaction; returns what was
    done, by table. A 退订 survives: her id stays only as a bare suppression entry, so
    deleting her data never turns marketing back on. So does a ban from the groups
    (guard_ban: her id and the reason), so deleting her data is no way back in for a
    spammer. `names`: names she went by that the tables may not know (the channel's)."""
    anonymous = f"anon-{secrets.token_hex(8)}"
    connection = Interaction._meta.default_connection
    async with in_transaction(connection):
        contact = await Contact.get_or_none(contact_id=contact_id)
        opted_out_at = contact.opted_out_at if contact else None
        care = await CareState.get_or_none(contact_id=contact_id)
        care_stop = (
            (care.marketing_stopped_at, care.stopped_reason)
            if care is not None and care.marketing_stopped_at is not None
            else None
        )
        known = await PendingWelcome.filter(contact_id=contact_id).values_list("name", flat=True)
        scrub = Scrubber(
            contact_id, anonymous, [*names, contact.name if contact else "", *map(str, known)]
        )
        done = {
            # Her orders stay in the revenue figures, as nobody's (like her interactions).
            "orders_anonymised": await _forget_orders(contact_id, contact),
            "rfm": await RfmScore.filter(contact_id=contact_id).delete(),
            "profile": await Profile.filter(contact_id=contact_id).delete(),
            "tags": await ContactTag.filter(contact_id=contact_id).delete(),
            "tag_history": await TagEvent.filter(contact_id=contact_id).delete(),
            "dialogs": await DialogState.filter(contact_id=contact_id).delete(),
            "pending_welcomes": await PendingWelcome.filter(contact_id=contact_id).delete(),
            "contact": await Contact.filter(contact_id=contact_id).delete(),
            "interactions_anonymised": await Interaction.filter(contact_id=contact_id).update(
                contact_id=anonymous, text=None
            ),
            "memberships_anonymised": await RoomMembership.filter(contact_id=contact_id).update(
                contact_id=anonymous
            ),
            "metrics_anonymised": sum(
                [
                    await model.filter(contact_id=contact_id).update(contact_id=anonymous)
                    for model in (MetricActivity, MetricEvent, MetricLast, MetricFriend)
                ]
            ),
            "sends_deleted": await _forget_sends(contact_id),
            # The guard's record keeps what happened (group counts), not who or what she wrote.
            "audit_anonymised": await GuardAudit.filter(contact_id=contact_id).update(
                contact_id=anonymous, text=None
            ),
            "allowlist": await GuardAllow.filter(contact_id=contact_id).delete(),
            "work": await WorkItem.filter(contact_id=contact_id).delete(),
            "enrollments": await Enrollment.filter(contact_id=contact_id).delete(),
            "marketing_anonymised": await MarketingSend.filter(contact_id=contact_id).update(
                contact_id=anonymous
            ),
            # Nobody: a click on one of her old links counts, and credits no one.
            "links_anonymised": await TrackedLink.filter(contact_id=contact_id).update(
                contact_id=None
            ),
            "escalations_anonymised": await Escalation.filter(contact_id=contact_id).update(
                contact_id=anonymous, text=None
            ),
            "care": await CareState.filter(contact_id=contact_id).delete(),
        }
        await Escalation.filter(handled_by=contact_id).update(handled_by=anonymous)
        await CareState.filter(takeover_by=contact_id).update(takeover_by=anonymous)
        await RoomMembership.filter(inviter_id=contact_id).update(inviter_id=anonymous)
        await RoomMembership.filter(remover_id=contact_id).update(remover_id=anonymous)
        await Room.filter(owner_id=contact_id).update(owner_id=anonymous)
        await GuardAudit.filter(by=contact_id).update(by=anonymous)  # as an admin
        await GuardFeedback.filter(by=contact_id).update(by=anonymous)
        # Her id and name inside other rows: event ids, keys, texts, payloads.
        done["scrubbed"] = await scrub_everywhere(scrub)
        if care_stop is not None:
            # After a loss, marketing stays off: deleting her data never turns it back on.
            await CareState.create(
                contact_id=contact_id,
                marketing_stopped_at=care_stop[0],
                stopped_reason=care_stop[1],
                updated_at=care_stop[0],
            )
        if opted_out_at is not None:
            await Contact.create(
                contact_id=contact_id,
                opted_out_at=opted_out_at,
                first_seen_at=opted_out_at,
                updated_at=opted_out_at,
                # Marks the bare entry: it suppresses sends, and no order matches it.
                external_id=SUPPRESSION_MARK,
            )
    log.info("forgot a contact: %s", ", ".join(f"{k}={v}" for k, v in done.items() if v))
    return done


async def _forget_orders(contact_id: str, contact: Contact | None) -> int:
    """Her orders stay in the revenue figures as nobody's, marked `forgotten`: their ids
    are cleared and no re-import links them again. Hers are the orders linked to her, and
    the orders linked to nobody that name her (her id as their external id on WeCom, or
    the external id, unionid or phone her contact row has). An order linked to another
    contact is hers, whatever ids it shares with her (a shared family phone)."""
    names_her = Q(external_id=contact_id)
    if contact is not None:
        for column in ("external_id", "unionid", "phone"):
            value = getattr(contact, column)
            if value:
                names_her |= Q(**{column: value})
    mine = Q(contact_id=contact_id) | (Q(contact_id__isnull=True) & names_her)
    return await Order.filter(mine).update(
        contact_id=None, external_id=None, unionid=None, phone=None, forgotten=True
    )


async def _forget_sends(contact_id: str) -> int:
    """Delete the messages sent (or queued) to her privately; they hold her name and
    what she was told. Group messages stay: they belong to the group."""
    deleted, last = 0, 0
    while True:
        rows = (
            await OutboxMessage.filter(id__gt=last)
            .order_by("id")
            .limit(1000)
            .values_list("id", "payload")
        )
        if not rows:
            return deleted
        last = rows[-1][0]
        mine = [
            row_id
            for row_id, payload in rows
            if isinstance(payload, dict)
            and not payload.get("room")
            and contact_id in (payload.get("to"), payload.get("contact"))
        ]
        if mine:
            deleted += await OutboxMessage.filter(id__in=mine).delete()


class Scrubber:
    """Takes her id and her names out of a text or a JSON value."""

    def __init__(self, contact_id: str, anonymous: str, names: Iterable[str]) -> None:
        self.contact_id = contact_id
        self.anonymous = anonymous
        found = [(contact_id, anonymous)]
        # Longest first, so "小美妈妈" goes whole before "小美" is looked for.
        for name in sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True):
            if name == contact_id:
                continue
            if len(name) < MIN_BARE_NAME:
                found.append(("@" + name, "@" + FORGOTTEN_NAME))
            else:
                found.append((name, FORGOTTEN_NAME))
        self.rules = [
            (_mention(what) if what.startswith("@") else _bounded(what), replacement)
            for what, replacement in found
        ]
        self.id_rules = self.rules[:1]  # her id only: for columns that hold no prose
        # What a LIKE must find for a row to be worth reading (plain and JSON-escaped).
        self.needles = sorted({what for what, _ in found})
        self.escaped_needles = sorted({_json_escaped(n) for n in self.needles})

    def text(self, value: str) -> str:
        for pattern, replacement in self.rules:
            value = pattern.sub(replacement, value)
        return value

    def ids(self, value: str) -> str:
        """Her id out of a short column (a status, a kind, a key): names are prose, and a
        name that happens to be a word ("sent") must not rewrite those."""
        for pattern, replacement in self.id_rules:
            value = pattern.sub(replacement, value)
        return value

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            # A list of people (the @mentions of a send) goes on without her.
            return [self.json(v) for v in value if v != self.contact_id]
        if isinstance(value, dict):
            # Keys are the code's words ("text", "to"): never rewritten.
            return {k: self.json(v) for k, v in value.items()}
        return value

    def escaped_text(self, value: str) -> str:
        """A dead letter's payload: ASCII-escaped JSON, scrubbed as JSON when it is."""
        try:
            parsed = json.loads(value)
        except ValueError:
            return self.text(value)
        scrubbed = self.json(parsed)
        return value if scrubbed == parsed else dead_letter.encode(scrubbed)


def _bounded(text: str) -> re.Pattern[str]:
    """`text` where it stands alone: an id "b" is not the b of "bb" or "wxid_b1"."""
    before = r"(?<![A-Za-z0-9_\-])" if _ID_CHARS.match(text[0]) else ""
    after = r"(?![A-Za-z0-9_\-])" if _ID_CHARS.match(text[-1]) else ""
    return re.compile(before + re.escape(text) + after)


def _mention(text: str) -> re.Pattern[str]:
    """An @mention of a short name: it ends where the mention does (a space, or WeChat's
    U+2005 after the name), so "@琳" is not the start of "@琳达"."""
    return re.compile(re.escape(text) + r"(?=\s|$)")


def _json_escaped(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)[1:-1]


def text_columns(model: type[Model]) -> list[tuple[str, str, bool]]:
    """(field name, db column, is JSON) of every column of `model` that holds text."""
    found = []
    for name, field in model._meta.fields_map.items():
        column = model._meta.fields_db_projection.get(name)
        if column is None:
            continue
        if isinstance(field, fields.JSONField):
            found.append((name, column, True))
        elif isinstance(field, fields.CharField | fields.TextField):
            found.append((name, column, False))
    return found


def scrubbed_columns() -> list[str]:
    """table.column of every column `forget` scrubs."""
    return [
        f"{model._meta.db_table}.{column}"
        for model in ALL_MODELS
        for _name, column, _json in text_columns(model)
        if f"{model._meta.db_table}.{column}" not in SCRUB_SKIPS
    ]


async def scrub_everywhere(scrub: Scrubber) -> int:
    """Scrub every text and JSON column of every table; returns the rows changed."""
    changed = 0
    for model in ALL_MODELS:
        table = model._meta.db_table
        for name, column, is_json in text_columns(model):
            if f"{table}.{column}" in SCRUB_SKIPS:
                continue
            if is_json:
                # A kick of her still waiting to go stays: like the ban, it must happen.
                keep = {"action": "kick", "status__in": ("pending", "sending")}
                changed += await _scrub_json_column(
                    model, name, scrub.json, keep if model is OutboxMessage else None
                )
            elif model is DeadLetter and name == "payload":
                changed += await _scrub_text_column(
                    model, name, scrub.escaped_needles, scrub.escaped_text
                )
            elif _prose(model, name):
                changed += await _scrub_text_column(model, name, scrub.needles, scrub.text)
            else:
                changed += await _scrub_text_column(model, name, [scrub.contact_id], scrub.ids)
    return changed


async def _scrub_text_column(
    model: type[Model], name: str, needles: list[str], change: Callable[[str], str]
) -> int:
    ids: set[Any] = set()
    for needle in needles:
        ids.update(await model.filter(**{f"{name}__contains": needle}).values_list("id", flat=True))
    changed = 0
    for chunk in _chunks(sorted(ids)):
        for pk, value in await model.filter(id__in=chunk).values_list("id", name):
            new = change(value) if isinstance(value, str) else value
            if new != value:
                changed += await model.filter(pk=pk).update(**{name: new})
    return changed


def _prose(model: type[Model], name: str) -> bool:
    """Whether a column holds free text (where a name can appear), not a short code."""
    field = model._meta.fields_map[name]
    return isinstance(field, fields.TextField) or (getattr(field, "max_length", 0) or 0) > 64


async def _scrub_json_column(
    model: type[Model],
    name: str,
    change: Callable[[Any], Any],
    keep: dict[str, Any] | None = None,
) -> int:
    """JSON has no portable substring filter: every row is read, a page at a time. Rows
    matching `keep` are left as they are."""
    changed, last = 0, None
    while True:
        query = model.all() if last is None else model.filter(id__gt=last)
        if keep:
            query = query.filter(~Q(**keep))  # not (all of keep)
        rows = await query.order_by("id").limit(_PAGE).values_list("id", name)
        if not rows:
            return changed
        last = rows[-1][0]
        for pk, value in rows:
            new = change(value)
            if new != value:
                changed += await model.filter(pk=pk).update(**{name: new})


def _chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]

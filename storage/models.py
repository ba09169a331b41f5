"""tortoise-orm models. Contacts and rooms are keyed by the platform's string ids.

Rows refer to contacts and rooms by those ids rather than by foreign keys: events arrive
before (or without) the contact's profile, and the hot path must not wait on lookups.
"""

from __future__ import annotations

import json
from typing import Any

from tortoise import fields
from tortoise.models import Model


def readable_json(value: Any) -> str:
    """JSON as ops read it in sqlite3: Chinese as itself, not \\uXXXX escapes. Text that
    is not valid Unicode (a lone surrogate) keeps its escapes, as before: it could not be
    stored as UTF-8 otherwise."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"))
    return text


class Contact(Model):
    id = fields.IntField(primary_key=True)
    contact_id = fields.CharField(max_length=128, unique=True)
    name = fields.CharField(max_length=255, default="")
    # The acquisition channel (活码) she came from, for the reports.
    channel = fields.CharField(max_length=64, null=True)
    is_friend = fields.BooleanField(default=False)
    # 退订: no marketing sends (scheduled, nurture, reminders); her own questions still work.
    opted_out_at = fields.DatetimeField(null=True)
    # She deleted the bot (handlers/roster.py): no marketing DMs until she is a friend again.
    unfriended_at = fields.DatetimeField(null=True)
    first_seen_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    # Her ids in other systems, which orders (ERP, the mini-program shop) name her by: the
    # WeCom external_userid, the WeChat unionid, and her phone number (digits only).
    external_id = fields.CharField(max_length=128, null=True, db_index=True)
    unionid = fields.CharField(max_length=128, null=True, db_index=True)
    phone = fields.CharField(max_length=32, null=True, db_index=True)

    class Meta:
        table = "contact"


class Room(Model):
    id = fields.IntField(primary_key=True)
    room_id = fields.CharField(max_length=128, unique=True)
    account_id = fields.CharField(max_length=64)
    topic = fields.CharField(max_length=255, default="")
    owner_id = fields.CharField(max_length=128, null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "room"


class RoomMembership(Model):
    """One stint of a contact in a room: joined, and left (null while still in)."""

    id = fields.IntField(primary_key=True)
    room_id = fields.CharField(max_length=128, db_index=True)
    contact_id = fields.CharField(max_length=128, db_index=True)
    inviter_id = fields.CharField(max_length=128, null=True)
    joined_at = fields.DatetimeField()
    left_at = fields.DatetimeField(null=True)
    remover_id = fields.CharField(max_length=128, null=True)

    class Meta:
        table = "room_membership"
        # Indexes, not db_index: changing a field rebuilds an SQLite table without its indexes.
        indexes = (("joined_at",), ("left_at",))


class Tag(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=128, unique=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "tag"


class ContactTag(Model):
    """A tag a contact carries now."""

    id = fields.IntField(primary_key=True)
    contact_id = fields.CharField(max_length=128, db_index=True)
    tag: fields.ForeignKeyRelation[Tag] = fields.ForeignKeyField(
        "models.Tag", related_name="contacts", on_delete=fields.CASCADE
    )
    source = fields.CharField(max_length=32)
    detail = fields.CharField(max_length=255, default="")
    added_at = fields.DatetimeField()

    class Meta:
        table = "contact_tag"
        unique_together = (("contact_id", "tag"),)


class TagEvent(Model):
    """History: every add and remove, so ops can see why a mother carries a tag."""

    id = fields.BigIntField(primary_key=True)
    contact_id = fields.CharField(max_length=128, db_index=True)
    tag = fields.CharField(max_length=128)
    op = fields.CharField(max_length=8)  # add | remove
    source = fields.CharField(max_length=32)
    detail = fields.CharField(max_length=255, default="")
    at = fields.DatetimeField()

    class Meta:
        table = "tag_event"


class Interaction(Model):
    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(db_index=True)
    account_id = fields.CharField(max_length=64)
    event_id = fields.CharField(max_length=191)
    kind = fields.CharField(max_length=32)  # message | join | leave | friend_request | ...
    room_id = fields.CharField(max_length=128, null=True, db_index=True)
    contact_id = fields.CharField(max_length=128, db_index=True)
    msg_type = fields.CharField(max_length=32, null=True)
    text = fields.TextField(null=True)

    class Meta:
        table = "interaction"


class OutboxMessage(Model):
    """A send (or other action) waiting for, or done by, the channel.

    status: pending -> sending -> sent | failed. A send is claimed with a lease (owner and
    expiry), like a work item: a row left in 'sending' whose lease has expired (its instance
    crashed) is resolved by asking the channel whether it already happened; one whose lease
    still runs belongs to a live instance and is never touched.
    """

    id = fields.BigIntField(primary_key=True)
    dedupe_key = fields.CharField(max_length=191, unique=True)
    account_id = fields.CharField(max_length=64, db_index=True)
    action = fields.CharField(max_length=16)  # say | kick | accept_friend | invite
    payload: Any = fields.JSONField(encoder=readable_json)
    status = fields.CharField(max_length=12, default="pending", db_index=True)
    attempts = fields.IntField(default=0)
    due_at = fields.DatetimeField()
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_message"
        indexes = (("status", "due_at"),)


class WorkItem(Model):
    """One thing that must happen at a time: a dialog reminder, a welcome batch, the daily
    stage job, later a scheduled post or a nurture step.

    status: pending -> running -> done | failed. `key` is unique, so scheduling the same
    fire twice (two instances, a restart) makes one row. A running row carries a lease
    (owner, until); an expired lease lets another instance claim it again.
    """

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=64)
    key = fields.CharField(max_length=191, unique=True)
    due_at = fields.DatetimeField()
    payload: Any = fields.JSONField(default=dict, encoder=readable_json)
    account_id = fields.CharField(max_length=64, null=True)
    # The mother the work is about (a reminder to her): deleted when she is forgotten.
    contact_id = fields.CharField(max_length=128, null=True, db_index=True)
    status = fields.CharField(max_length=12, default="pending")
    attempts = fields.IntField(default=0)
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    created_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "work"
        indexes = (("status", "due_at"),)


class PendingWelcome(Model):
    """A new member waiting for the batched welcome of her room."""

    id = fields.IntField(primary_key=True)
    account_id = fields.CharField(max_length=64)
    room_id = fields.CharField(max_length=128, db_index=True)
    contact_id = fields.CharField(max_length=128)
    name = fields.CharField(max_length=255, default="")
    joined_at = fields.DatetimeField()
    event_id = fields.CharField(max_length=191, unique=True)

    class Meta:
        table = "pending_welcome"


class Profile(Model):
    """What a mother told us about herself: dates, stage, city, family, other answers."""

    id = fields.IntField(primary_key=True)
    contact_id = fields.CharField(max_length=128, unique=True)
    account_id = fields.CharField(max_length=64, null=True)  # the account she talks to
    due_date = fields.DateField(null=True)
    birth_date = fields.DateField(null=True)
    stage = fields.CharField(max_length=16, null=True)
    children = fields.IntField(null=True)
    city = fields.CharField(max_length=64, null=True)
    province = fields.CharField(max_length=32, null=True)
    family = fields.CharField(max_length=64, null=True)
    extra: Any = fields.JSONField(
        default=dict, encoder=readable_json
    )  # answers to custom dialog steps
    updated_at = fields.DatetimeField()

    class Meta:
        table = "profile"


class DialogState(Model):
    """A dialog in progress, with its due time. The key-value store mirrors it with an
    expiry (flows/dialog.py); this row is what survives a crash or a restart on every
    backend, the in-process store included."""

    id = fields.IntField(primary_key=True)
    contact_id = fields.CharField(max_length=128)
    flow = fields.CharField(max_length=32)
    account_id = fields.CharField(max_length=64)
    dialog_id = fields.CharField(max_length=64)
    step = fields.IntField(default=0)
    tries = fields.IntField(default=0)
    answered = fields.IntField(default=0)  # steps she actually answered
    reminded = fields.BooleanField(default=False)
    asked_at = fields.DatetimeField()
    due_at = fields.DatetimeField(db_index=True)  # the reminder, or the quiet close after it

    class Meta:
        table = "dialog_state"
        unique_together = (("contact_id", "flow"),)


class GuardAudit(Model):
    """Every guard or admin action: who, where, what, why, the score and the message."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(db_index=True)
    room_id = fields.CharField(max_length=128, null=True, db_index=True)
    contact_id = fields.CharField(max_length=128, db_index=True)  # "" when there is no target
    # warn | kick | ban | unban | allow | unwarn | ask | spam | ham | notice | tag | reload
    action = fields.CharField(max_length=16)
    by = fields.CharField(max_length=128)  # "guard" or the admin's contact id
    reasons = fields.TextField(default="")
    score = fields.FloatField(default=0.0)
    text = fields.TextField(null=True)

    class Meta:
        table = "guard_audit"


class GuardBan(Model):
    """The cross-group blacklist: removed from every managed group, again on rejoin."""

    id = fields.IntField(primary_key=True)
    contact_id = fields.CharField(max_length=128, unique=True)
    reason = fields.TextField(default="")
    at = fields.DatetimeField()

    class Meta:
        table = "guard_ban"


class GuardAllow(Model):
    """Contacts the guard never acts on (besides owners, admins and protected tags)."""

    id = fields.IntField(primary_key=True)
    contact_id = fields.CharField(max_length=128, unique=True)
    at = fields.DatetimeField()

    class Meta:
        table = "guard_allow"


class GuardFeedback(Model):
    """Admins' #垃圾 / #正常: texts the model learns from, kept across restarts."""

    id = fields.IntField(primary_key=True)
    label = fields.CharField(max_length=8)  # spam | ham
    text = fields.TextField()
    by = fields.CharField(max_length=128)
    at = fields.DatetimeField()

    class Meta:
        table = "guard_feedback"


class DeadLetter(Model):
    """A row the database refused, set aside so the rest of its batch goes through.

    `payload` is the row as ASCII-escaped JSON (always storable, whatever it held), `kind`
    says which writer refused it (outbox, interaction...), `error` what the database said.
    Ops read them in this table; nothing reads them back automatically.
    """

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=32, db_index=True)
    payload = fields.TextField()
    error = fields.TextField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "dead_letter"


class TrackedLink(Model):
    """A tracked link as sent: one per message it went out in (per contact for a DM, per
    group for a group post). `GET /l/<token>` redirects to `url` and counts the click."""

    id = fields.BigIntField(primary_key=True)
    token = fields.CharField(max_length=64, unique=True)
    link_id = fields.CharField(max_length=64)  # the link's id in content
    url = fields.TextField()
    tags: Any = fields.JSONField(default=list, encoder=readable_json)  # added on a click
    source = fields.CharField(max_length=191, db_index=True)  # post:ID | seq:ID:STEP
    contact_id = fields.CharField(max_length=128, null=True, db_index=True)  # sent to her
    room_id = fields.CharField(max_length=128, null=True)  # sent to this group
    account_id = fields.CharField(max_length=64, null=True)  # the account that sent it
    created_at = fields.DatetimeField()
    clicks = fields.IntField(default=0)
    first_click_at = fields.DatetimeField(null=True)
    last_click_at = fields.DatetimeField(null=True)

    class Meta:
        table = "tracked_link"
        indexes = (("created_at",),)


class MarketingSend(Model):
    """A marketing message handed to the outbox (a post to a group, a sequence step to a
    contact): what the frequency cap counts and conversion reads as "sent"."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=191, unique=True)  # once per work row
    source = fields.CharField(max_length=191, db_index=True)  # post:ID | seq:ID:STEP
    contact_id = fields.CharField(max_length=128, null=True, db_index=True)
    room_id = fields.CharField(max_length=128, null=True)
    at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "marketing_send"


class Enrollment(Model):
    """A contact in a nurture sequence: once per contact and sequence, ever."""

    id = fields.BigIntField(primary_key=True)
    contact_id = fields.CharField(max_length=128, db_index=True)
    sequence_id = fields.CharField(max_length=64, db_index=True)
    account_id = fields.CharField(max_length=64)  # the account that writes to her
    trigger = fields.CharField(max_length=191, default="")  # what enrolled her
    status = fields.CharField(max_length=12, default="active")  # active | finished | exited
    step = fields.IntField(default=0)  # the next step to run
    enrolled_at = fields.DatetimeField()
    step_at = fields.DatetimeField(null=True)  # when the last step ran
    ended_at = fields.DatetimeField(null=True)
    end_reason = fields.CharField(max_length=191, default="")

    class Meta:
        table = "enrollment"
        unique_together = (("contact_id", "sequence_id"),)
        indexes = (("enrolled_at",),)


class PostState(Model):
    """A scheduled post in one group ("" = everywhere): paused, and the variant it sent
    last (so a group never gets the same text twice in a row)."""

    id = fields.IntField(primary_key=True)
    post_id = fields.CharField(max_length=64)
    room_id = fields.CharField(max_length=128, default="")
    paused = fields.BooleanField(default=False)
    last_variant = fields.IntField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "post_state"
        unique_together = (("post_id", "room_id"),)


class Escalation(Model):
    """A mother's message that needed a person (care: urgent, crisis, concern, loss): who
    was told, when someone took it, how long that took."""

    id = fields.BigIntField(primary_key=True)
    event_id = fields.CharField(max_length=191, unique=True)  # once per message
    contact_id = fields.CharField(max_length=128, db_index=True)
    room_id = fields.CharField(max_length=128, null=True)
    account_id = fields.CharField(max_length=64)
    severity = fields.CharField(max_length=12)  # urgent | crisis | concern | loss
    reason = fields.CharField(max_length=255, default="")
    text = fields.TextField(null=True)
    opened_at = fields.DatetimeField(db_index=True)
    respond_by = fields.DatetimeField()  # the response-time target
    reminders = fields.IntField(default=0)
    handled_at = fields.DatetimeField(null=True)
    handled_by = fields.CharField(max_length=128, null=True)

    class Meta:
        table = "escalation"


class CareState(Model):
    """What care holds for a mother: marketing paused until a time or stopped for good
    (a loss, until staff lift it), and a staff member's takeover of her chats."""

    id = fields.IntField(primary_key=True)
    contact_id = fields.CharField(max_length=128, unique=True)
    marketing_paused_until = fields.DatetimeField(null=True)
    marketing_stopped_at = fields.DatetimeField(null=True)
    stopped_reason = fields.CharField(max_length=64, default="")
    takeover_until = fields.DatetimeField(null=True)
    takeover_by = fields.CharField(max_length=128, null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "care_state"


class Order(Model):
    """One order from the shop, ERP or CRM (`mamabot import-orders`, `POST /api/orders`),
    keyed by its own order id: importing it again updates it, never doubles it."""

    id = fields.BigIntField(primary_key=True)
    order_id = fields.CharField(max_length=128, unique=True)
    # Who placed it, once matched (None: no contact known by the ids it carries yet).
    contact_id = fields.CharField(max_length=128, null=True, db_index=True)
    # The ids the order named her by, kept to match her later.
    external_id = fields.CharField(max_length=128, null=True)
    unionid = fields.CharField(max_length=128, null=True)
    phone = fields.CharField(max_length=32, null=True)
    amount_cents = fields.BigIntField(default=0)
    currency = fields.CharField(max_length=8, default="CNY")
    status = fields.CharField(max_length=16, default="paid")  # paid | refunded | cancelled
    product = fields.CharField(max_length=255, default="")
    channel = fields.CharField(max_length=64, null=True)  # the channel code it came through
    account_id = fields.CharField(max_length=64, null=True)
    placed_at = fields.DatetimeField(db_index=True)
    source = fields.CharField(max_length=16, default="csv")  # csv | api
    # The order trigger was told of it (it became a paid order of a known contact once).
    announced = fields.BooleanField(default=False, db_default=False)
    # Its mother was forgotten: it keeps its amount as nobody's and is never linked again.
    forgotten = fields.BooleanField(default=False, db_default=False)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "shop_order"
        indexes = (("contact_id", "placed_at"),)


class RfmScore(Model):
    """Her latest RFM scores (quintiles 1..5) and segment, from the daily job."""

    id = fields.IntField(primary_key=True)
    contact_id = fields.CharField(max_length=128, unique=True)
    recency_days = fields.IntField()
    frequency = fields.IntField()
    monetary_cents = fields.BigIntField()
    r = fields.SmallIntField()
    f = fields.SmallIntField()
    m = fields.SmallIntField()
    segment = fields.CharField(max_length=64, default="", db_index=True)
    computed_at = fields.DatetimeField()

    class Meta:
        table = "rfm_score"


class DashboardUser(Model):
    """Someone who may log in to the dashboard (`mamabot users add`). Staff, not mothers."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    password_hash = fields.CharField(max_length=255)
    created_at = fields.DatetimeField()
    last_login_at = fields.DatetimeField(null=True)
    disabled = fields.BooleanField(default=False)

    class Meta:
        table = "dashboard_user"


class WebSession(Model):
    """A dashboard login: the cookie holds a random token, the table its SHA-256."""

    id = fields.BigIntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user_name = fields.CharField(max_length=64, db_index=True)
    csrf = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "web_session"


class MetricDay(Model):
    """A local calendar day whose metric rollup (`part`: activity | words | summary) is
    written, in which timezone, and whether it is final (the day ended long enough ago that
    no late interaction is expected) or provisional (rewritten on a later read). Summary
    days are only ever written final, in day order; `basis` names the bot accounts whose
    own messages they leave out (storage/metrics.py)."""

    id = fields.IntField(primary_key=True)
    day = fields.IntField()  # date.toordinal() of the local day
    part = fields.CharField(max_length=16)
    tz = fields.CharField(max_length=64)
    basis = fields.CharField(max_length=32, default="")
    final = fields.BooleanField(default=False)
    rolled_at = fields.DatetimeField()

    class Meta:
        table = "metric_day"
        unique_together = (("day", "part"),)


class MetricActivity(Model):
    """What one contact did on one local day in one room ("" for direct chats) of one
    account, counted from the interaction log (storage/metrics.py): the daily rollup the
    day summaries, and the figures no summary holds, are computed from."""

    id = fields.BigIntField(primary_key=True)
    day = fields.IntField()  # date.toordinal() of the local day
    account_id = fields.CharField(max_length=64)
    room_id = fields.CharField(max_length=128, default="")
    contact_id = fields.CharField(max_length=128, db_index=True)
    messages = fields.IntField(default=0)
    clicks = fields.IntField(default=0)
    friend_events = fields.IntField(default=0)  # friend_request / friend_added
    joins = fields.IntField(default=0)
    leaves = fields.IntField(default=0)  # not removals: a kick is no customer leaving
    speaker = fields.IntField(default=0)  # 1: a member of the group that day who spoke

    class Meta:
        table = "metric_activity"
        unique_together = (("day", "account_id", "room_id", "contact_id"),)


class MetricEvent(Model):
    """The rare rows of metric_activity (a friend event, a join, a leave: `kind` friend |
    join | leave), kept apart so that new friends, leavers and the funnel's cohort read a
    few hundred rows a day instead of every active contact's."""

    id = fields.BigIntField(primary_key=True)
    day = fields.IntField()  # date.toordinal() of the local day
    kind = fields.CharField(max_length=8)
    account_id = fields.CharField(max_length=64)
    room_id = fields.CharField(max_length=128, default="")
    contact_id = fields.CharField(max_length=128)

    class Meta:
        table = "metric_event"
        unique_together = (("day", "kind", "account_id", "room_id", "contact_id"),)


class MetricSummary(Model):
    """One final day's figures for one scope ("" for everything, or "account:ID",
    "room:ID", "channel:CODE"), written once when the day becomes final. `gaps` is JSON
    {days since the contact's previous active day in the scope: contacts}, "0" for none
    within 400 days: distinct active contacts over any range are summed from it."""

    id = fields.BigIntField(primary_key=True)
    day = fields.IntField()  # date.toordinal() of the local day
    scope = fields.CharField(max_length=200)
    dau = fields.IntField(default=0)
    mau = fields.IntField(default=0)
    lapsed = fields.IntField(default=0)  # active 30 days before, silent since
    joins = fields.IntField(default=0)
    leaves = fields.IntField(default=0)
    speakers = fields.IntField(default=0)
    members = fields.IntField(default=0)
    gaps = fields.TextField(default="{}")

    class Meta:
        table = "metric_summary"
        unique_together = (("scope", "day"),)


class MetricLast(Model):
    """The last final day each contact was active in each scope: the state the next day's
    summary continues from (MAU, lapses, gaps)."""

    id = fields.BigIntField(primary_key=True)
    scope = fields.CharField(max_length=200)
    contact_id = fields.CharField(max_length=128, db_index=True)
    last_day = fields.IntField()

    class Meta:
        table = "metric_last"
        unique_together = (("scope", "contact_id"),)
        indexes = (("scope", "last_day"),)


class MetricWord(Model):
    """The most frequent words of one group's messages on one local day (hot topics)."""

    id = fields.BigIntField(primary_key=True)
    day = fields.IntField()  # date.toordinal() of the local day
    account_id = fields.CharField(max_length=64)
    room_id = fields.CharField(max_length=128)
    word = fields.CharField(max_length=64)
    count = fields.IntField()

    class Meta:
        table = "metric_word"
        unique_together = (("day", "account_id", "room_id", "word"),)


class MetricFriend(Model):
    """When a contact first sent each account a friend request, and when each account
    first recorded her as added (`kind` friend_request | friend_added), from the
    interaction log: what new friends are counted from (storage/metrics.py)."""

    id = fields.BigIntField(primary_key=True)
    contact_id = fields.CharField(max_length=128, db_index=True)
    account_id = fields.CharField(max_length=64)
    kind = fields.CharField(max_length=16)
    first_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "metric_friend"
        unique_together = (("contact_id", "account_id", "kind"),)
        indexes = (("kind", "account_id"),)


class BotIdentity(Model):
    """Every contact id a bot account has logged in as: the bot's own messages, joins and
    memberships are never counted as a mother's (storage/metrics.py). `counted_out`: the
    metrics have dropped what they had counted of it before it was known."""

    id = fields.IntField(primary_key=True)
    self_id = fields.CharField(max_length=128, unique=True)
    account_id = fields.CharField(max_length=64)
    first_seen_at = fields.DatetimeField()
    counted_out = fields.BooleanField(default=False)

    class Meta:
        table = "bot_identity"


ALL_MODELS = [
    Contact,
    Room,
    RoomMembership,
    Tag,
    ContactTag,
    TagEvent,
    Interaction,
    OutboxMessage,
    WorkItem,
    PendingWelcome,
    Profile,
    DialogState,
    GuardAudit,
    GuardBan,
    GuardAllow,
    GuardFeedback,
    DeadLetter,
    TrackedLink,
    MarketingSend,
    Enrollment,
    PostState,
    Escalation,
    CareState,
    Order,
    RfmScore,
    DashboardUser,
    WebSession,
    MetricDay,
    MetricActivity,
    MetricEvent,
    MetricSummary,
    MetricLast,
    MetricWord,
    MetricFriend,
    BotIdentity,
]

# Written by `python -m storage.migrate` from storage/models.py (see storage/migrate.py).
# ruff: noqa: RUF012
import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Contact",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("contact_id", fields.CharField(unique=True, max_length=128)),
                ("name", fields.CharField(default="", max_length=255)),
                ("channel", fields.CharField(null=True, max_length=64)),
                ("is_friend", fields.BooleanField(default=False)),
                (
                    "opted_out_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("first_seen_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "contact", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="DialogState",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("contact_id", fields.CharField(max_length=128)),
                ("flow", fields.CharField(max_length=32)),
                ("account_id", fields.CharField(max_length=64)),
                ("dialog_id", fields.CharField(max_length=64)),
                ("step", fields.IntField(default=0)),
                ("tries", fields.IntField(default=0)),
                ("answered", fields.IntField(default=0)),
                ("reminded", fields.BooleanField(default=False)),
                ("asked_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("due_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "dialog_state",
                "app": "models",
                "unique_together": (("contact_id", "flow"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="GuardAllow",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("contact_id", fields.CharField(unique=True, max_length=128)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "guard_allow", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="GuardAudit",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("room_id", fields.CharField(null=True, db_index=True, max_length=128)),
                ("contact_id", fields.CharField(db_index=True, max_length=128)),
                ("action", fields.CharField(max_length=16)),
                ("by", fields.CharField(max_length=128)),
                ("reasons", fields.TextField(default="", unique=False)),
                ("score", fields.FloatField(default=0.0)),
                ("text", fields.TextField(null=True, unique=False)),
            ],
            options={"table": "guard_audit", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="GuardBan",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("contact_id", fields.CharField(unique=True, max_length=128)),
                ("reason", fields.TextField(default="", unique=False)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "guard_ban", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="GuardFeedback",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("label", fields.CharField(max_length=8)),
                ("text", fields.TextField(unique=False)),
                ("by", fields.CharField(max_length=128)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "guard_feedback", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Interaction",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("account_id", fields.CharField(max_length=64)),
                ("event_id", fields.CharField(max_length=191)),
                ("kind", fields.CharField(max_length=32)),
                ("room_id", fields.CharField(null=True, db_index=True, max_length=128)),
                ("contact_id", fields.CharField(db_index=True, max_length=128)),
                ("msg_type", fields.CharField(null=True, max_length=32)),
                ("text", fields.TextField(null=True, unique=False)),
            ],
            options={"table": "interaction", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="OutboxMessage",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("dedupe_key", fields.CharField(unique=True, max_length=191)),
                ("account_id", fields.CharField(db_index=True, max_length=64)),
                ("action", fields.CharField(max_length=16)),
                (
                    "payload",
                    fields.JSONField(
                        encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("status", fields.CharField(default="pending", db_index=True, max_length=12)),
                ("attempts", fields.IntField(default=0)),
                ("due_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("last_error", fields.TextField(null=True, unique=False)),
                ("lease_owner", fields.CharField(null=True, max_length=64)),
                (
                    "lease_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "outbox_message",
                "app": "models",
                "indexes": [Index(fields=["status", "due_at"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PendingWelcome",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("account_id", fields.CharField(max_length=64)),
                ("room_id", fields.CharField(db_index=True, max_length=128)),
                ("contact_id", fields.CharField(max_length=128)),
                ("name", fields.CharField(default="", max_length=255)),
                ("joined_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("event_id", fields.CharField(unique=True, max_length=191)),
            ],
            options={"table": "pending_welcome", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Profile",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("contact_id", fields.CharField(unique=True, max_length=128)),
                ("account_id", fields.CharField(null=True, max_length=64)),
                ("due_date", fields.DateField(null=True)),
                ("birth_date", fields.DateField(null=True)),
                ("stage", fields.CharField(null=True, max_length=16)),
                ("children", fields.IntField(null=True)),
                ("city", fields.CharField(null=True, max_length=64)),
                ("province", fields.CharField(null=True, max_length=32)),
                ("family", fields.CharField(null=True, max_length=64)),
                (
                    "extra",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "profile", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Room",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("room_id", fields.CharField(unique=True, max_length=128)),
                ("account_id", fields.CharField(max_length=64)),
                ("topic", fields.CharField(default="", max_length=255)),
                ("owner_id", fields.CharField(null=True, max_length=128)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "room", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RoomMembership",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("room_id", fields.CharField(db_index=True, max_length=128)),
                ("contact_id", fields.CharField(db_index=True, max_length=128)),
                ("inviter_id", fields.CharField(null=True, max_length=128)),
                ("joined_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("left_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("remover_id", fields.CharField(null=True, max_length=128)),
            ],
            options={"table": "room_membership", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Tag",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("name", fields.CharField(unique=True, max_length=128)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "tag", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ContactTag",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("contact_id", fields.CharField(db_index=True, max_length=128)),
                (
                    "tag",
                    fields.ForeignKeyField(
                        "models.Tag",
                        source_field="tag_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="contacts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("source", fields.CharField(max_length=32)),
                ("detail", fields.CharField(default="", max_length=255)),
                ("added_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "contact_tag",
                "app": "models",
                "unique_together": (("contact_id", "tag"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="TagEvent",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("contact_id", fields.CharField(db_index=True, max_length=128)),
                ("tag", fields.CharField(max_length=128)),
                ("op", fields.CharField(max_length=8)),
                ("source", fields.CharField(max_length=32)),
                ("detail", fields.CharField(default="", max_length=255)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "tag_event", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="WorkItem",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("kind", fields.CharField(max_length=64)),
                ("key", fields.CharField(unique=True, max_length=191)),
                ("due_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "payload",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("account_id", fields.CharField(null=True, max_length=64)),
                ("contact_id", fields.CharField(null=True, db_index=True, max_length=128)),
                ("status", fields.CharField(default="pending", max_length=12)),
                ("attempts", fields.IntField(default=0)),
                ("lease_owner", fields.CharField(null=True, max_length=64)),
                (
                    "lease_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("last_error", fields.TextField(null=True, unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "work",
                "app": "models",
                "indexes": [Index(fields=["status", "due_at"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]

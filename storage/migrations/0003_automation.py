# Written by `python -m storage.migrate` from storage/models.py (see storage/migrate.py).
# ruff: noqa: RUF012
from json import loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from storage.models import readable_json


class Migration(migrations.Migration):
    dependencies = [("models", "0002_dead_letter")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Enrollment",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("contact_id", fields.CharField(db_index=True, max_length=128)),
                ("sequence_id", fields.CharField(db_index=True, max_length=64)),
                ("account_id", fields.CharField(max_length=64)),
                ("trigger", fields.CharField(default="", max_length=191)),
                ("status", fields.CharField(default="active", max_length=12)),
                ("step", fields.IntField(default=0)),
                ("enrolled_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("step_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("ended_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("end_reason", fields.CharField(default="", max_length=191)),
            ],
            options={
                "table": "enrollment",
                "app": "models",
                "unique_together": (("contact_id", "sequence_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MarketingSend",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("key", fields.CharField(unique=True, max_length=191)),
                ("source", fields.CharField(db_index=True, max_length=191)),
                ("contact_id", fields.CharField(null=True, db_index=True, max_length=128)),
                ("room_id", fields.CharField(null=True, max_length=128)),
                ("at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={"table": "marketing_send", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PostState",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("post_id", fields.CharField(max_length=64)),
                ("room_id", fields.CharField(default="", max_length=128)),
                ("paused", fields.BooleanField(default=False)),
                ("last_variant", fields.IntField(null=True)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "post_state",
                "app": "models",
                "unique_together": (("post_id", "room_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="TrackedLink",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("token", fields.CharField(unique=True, max_length=64)),
                ("link_id", fields.CharField(max_length=64)),
                ("url", fields.TextField(unique=False)),
                ("tags", fields.JSONField(default=list, encoder=readable_json, decoder=loads)),
                ("source", fields.CharField(db_index=True, max_length=191)),
                ("contact_id", fields.CharField(null=True, db_index=True, max_length=128)),
                ("room_id", fields.CharField(null=True, max_length=128)),
                ("account_id", fields.CharField(null=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("clicks", fields.IntField(default=0)),
                (
                    "first_click_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "last_click_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={"table": "tracked_link", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
    ]

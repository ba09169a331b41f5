# Written by `python -m storage.migrate` from storage/models.py (see storage/migrate.py).
# ruff: noqa: RUF012
from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0006_metrics")]

    initial = False

    operations = [
        ops.CreateModel(
            name="BotIdentity",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("self_id", fields.CharField(unique=True, max_length=128)),
                ("account_id", fields.CharField(max_length=64)),
                ("first_seen_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("counted_out", fields.BooleanField(default=False)),
            ],
            options={"table": "bot_identity", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MetricFriend",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("contact_id", fields.CharField(db_index=True, max_length=128)),
                ("account_id", fields.CharField(max_length=64)),
                ("kind", fields.CharField(max_length=16)),
                (
                    "first_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "metric_friend",
                "app": "models",
                "unique_together": (("contact_id", "account_id", "kind"),),
                "indexes": [Index(fields=["kind", "account_id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.AddIndex(
            model_name="Enrollment",
            index=Index(fields=["enrolled_at"]),
        ),
        ops.AddField(
            model_name="MetricActivity",
            name="speaker",
            field=fields.IntField(default=0),
        ),
        ops.AddIndex(
            model_name="RoomMembership",
            index=Index(fields=["joined_at"]),
        ),
        ops.AddIndex(
            model_name="RoomMembership",
            index=Index(fields=["left_at"]),
        ),
        ops.AddIndex(
            model_name="TrackedLink",
            index=Index(fields=["created_at"]),
        ),
    ]

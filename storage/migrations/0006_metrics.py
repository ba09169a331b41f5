# Written by `python -m storage.migrate` from storage/models.py (see storage/migrate.py).
# ruff: noqa: RUF012
from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0005_insight")]

    initial = False

    operations = [
        ops.CreateModel(
            name="MetricActivity",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("day", fields.IntField()),
                ("account_id", fields.CharField(max_length=64)),
                ("room_id", fields.CharField(default="", max_length=128)),
                ("contact_id", fields.CharField(db_index=True, max_length=128)),
                ("messages", fields.IntField(default=0)),
                ("clicks", fields.IntField(default=0)),
                ("friend_events", fields.IntField(default=0)),
                ("joins", fields.IntField(default=0)),
                ("leaves", fields.IntField(default=0)),
            ],
            options={
                "table": "metric_activity",
                "app": "models",
                "unique_together": (("day", "account_id", "room_id", "contact_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MetricDay",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("day", fields.IntField()),
                ("part", fields.CharField(max_length=16)),
                ("tz", fields.CharField(max_length=64)),
                ("basis", fields.CharField(default="", max_length=32)),
                ("final", fields.BooleanField(default=False)),
                ("rolled_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "metric_day",
                "app": "models",
                "unique_together": (("day", "part"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MetricEvent",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("day", fields.IntField()),
                ("kind", fields.CharField(max_length=8)),
                ("account_id", fields.CharField(max_length=64)),
                ("room_id", fields.CharField(default="", max_length=128)),
                ("contact_id", fields.CharField(max_length=128)),
            ],
            options={
                "table": "metric_event",
                "app": "models",
                "unique_together": (("day", "kind", "account_id", "room_id", "contact_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MetricLast",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("scope", fields.CharField(max_length=200)),
                ("contact_id", fields.CharField(db_index=True, max_length=128)),
                ("last_day", fields.IntField()),
            ],
            options={
                "table": "metric_last",
                "app": "models",
                "unique_together": (("scope", "contact_id"),),
                "indexes": [Index(fields=["scope", "last_day"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MetricSummary",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("day", fields.IntField()),
                ("scope", fields.CharField(max_length=200)),
                ("dau", fields.IntField(default=0)),
                ("mau", fields.IntField(default=0)),
                ("lapsed", fields.IntField(default=0)),
                ("joins", fields.IntField(default=0)),
                ("leaves", fields.IntField(default=0)),
                ("speakers", fields.IntField(default=0)),
                ("members", fields.IntField(default=0)),
                ("gaps", fields.TextField(default="{}", unique=False)),
            ],
            options={
                "table": "metric_summary",
                "app": "models",
                "unique_together": (("scope", "day"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MetricWord",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("day", fields.IntField()),
                ("account_id", fields.CharField(max_length=64)),
                ("room_id", fields.CharField(max_length=128)),
                ("word", fields.CharField(max_length=64)),
                ("count", fields.IntField()),
            ],
            options={
                "table": "metric_word",
                "app": "models",
                "unique_together": (("day", "account_id", "room_id", "word"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]

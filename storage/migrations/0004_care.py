# Written by `python -m storage.migrate` from storage/models.py (see storage/migrate.py).
# ruff: noqa: RUF012
from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0003_automation")]

    initial = False

    operations = [
        ops.CreateModel(
            name="CareState",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("contact_id", fields.CharField(unique=True, max_length=128)),
                (
                    "marketing_paused_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "marketing_stopped_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("stopped_reason", fields.CharField(default="", max_length=64)),
                (
                    "takeover_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("takeover_by", fields.CharField(null=True, max_length=128)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "care_state", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Escalation",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("event_id", fields.CharField(unique=True, max_length=191)),
                ("contact_id", fields.CharField(db_index=True, max_length=128)),
                ("room_id", fields.CharField(null=True, max_length=128)),
                ("account_id", fields.CharField(max_length=64)),
                ("severity", fields.CharField(max_length=12)),
                ("reason", fields.CharField(default="", max_length=255)),
                ("text", fields.TextField(null=True, unique=False)),
                (
                    "opened_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
                ),
                ("respond_by", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("reminders", fields.IntField(default=0)),
                ("handled_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("handled_by", fields.CharField(null=True, max_length=128)),
            ],
            options={"table": "escalation", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
    ]

# Written by `python -m storage.migrate` from storage/models.py (see storage/migrate.py).
# ruff: noqa: RUF012
from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0004_care")]

    initial = False

    operations = [
        ops.CreateModel(
            name="DashboardUser",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("name", fields.CharField(unique=True, max_length=64)),
                ("password_hash", fields.CharField(max_length=255)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "last_login_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("disabled", fields.BooleanField(default=False)),
            ],
            options={"table": "dashboard_user", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Order",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("order_id", fields.CharField(unique=True, max_length=128)),
                ("contact_id", fields.CharField(null=True, db_index=True, max_length=128)),
                ("external_id", fields.CharField(null=True, max_length=128)),
                ("unionid", fields.CharField(null=True, max_length=128)),
                ("phone", fields.CharField(null=True, max_length=32)),
                ("amount_cents", fields.BigIntField(default=0)),
                ("currency", fields.CharField(default="CNY", max_length=8)),
                ("status", fields.CharField(default="paid", max_length=16)),
                ("product", fields.CharField(default="", max_length=255)),
                ("channel", fields.CharField(null=True, max_length=64)),
                ("account_id", fields.CharField(null=True, max_length=64)),
                (
                    "placed_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
                ),
                ("source", fields.CharField(default="csv", max_length=16)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "shop_order",
                "app": "models",
                "indexes": [Index(fields=["contact_id", "placed_at"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RfmScore",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("contact_id", fields.CharField(unique=True, max_length=128)),
                ("recency_days", fields.IntField()),
                ("frequency", fields.IntField()),
                ("monetary_cents", fields.BigIntField()),
                ("r", fields.SmallIntField()),
                ("f", fields.SmallIntField()),
                ("m", fields.SmallIntField()),
                ("segment", fields.CharField(default="", db_index=True, max_length=64)),
                ("computed_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "rfm_score", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="WebSession",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                ("user_name", fields.CharField(db_index=True, max_length=64)),
                ("csrf", fields.CharField(max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "expires_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={"table": "web_session", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Contact",
            name="external_id",
            field=fields.CharField(null=True, db_index=True, max_length=128),
        ),
        ops.AddField(
            model_name="Contact",
            name="phone",
            field=fields.CharField(null=True, db_index=True, max_length=32),
        ),
        ops.AddField(
            model_name="Contact",
            name="unionid",
            field=fields.CharField(null=True, db_index=True, max_length=128),
        ),
    ]

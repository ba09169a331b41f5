# Written by `python -m storage.migrate` from storage/models.py (see storage/migrate.py).
# ruff: noqa: RUF012
#
# Edited after it was written: the RunSQL step moves the two marks that rode on
# shop_order.source (":waiting" appended, or the whole source "forgotten") into their own
# columns. The source a forgotten order came by was not kept: it reads "csv". The new
# columns have a database default, or adding them to a table with rows would fail.
from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0007_metrics_fixes")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Contact",
            name="unfriended_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="Order",
            name="announced",
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name="Order",
            name="forgotten",
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.RunSQL(
            [
                "UPDATE shop_order SET announced = TRUE WHERE source NOT LIKE '%:waiting'",
                "UPDATE shop_order SET forgotten = TRUE, source = 'csv' WHERE source = 'forgotten'",
                "UPDATE shop_order SET source = REPLACE(source, ':waiting', '')"
                " WHERE source LIKE '%:waiting'",
            ]
        ),
    ]

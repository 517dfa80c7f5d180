"""Announce every change the tile path memoises (``chemearth.change_feed``) with pg_notify.

The policy counter (bumped by sharing's triggers on every rule write), the surveys (their data
versions) and the map layers' keys and states. Statement-level, so a bulk write is one notice;
PostgreSQL delivers notices at commit and drops those of rolled-back transactions.
"""

from django.db import migrations

WATCHED = {
    "sharing_policycounter": "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "baselines_survey": "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE",
    # Not progress: a render updates it many times a second and the memo never keeps pending rows.
    "maps_maplayer": "AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF state, key",
}

FUNCTION = """
CREATE OR REPLACE FUNCTION chemearth_notify_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('chemearth_changed', TG_TABLE_NAME);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def _create() -> str:
    sql = [FUNCTION]
    for table, events in WATCHED.items():
        sql.append(
            f"CREATE TRIGGER {table}_changed {events} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION chemearth_notify_changed();"
        )
    return "\n".join(sql)


def _drop() -> str:
    sql = [f"DROP TRIGGER IF EXISTS {table}_changed ON {table};" for table in WATCHED]
    sql.append("DROP FUNCTION IF EXISTS chemearth_notify_changed();")
    return "\n".join(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("maps", "0003_featured_map_bounds"),
        ("sharing", "0003_policy_version_triggers"),
        ("baselines", "0010_survey_synthetic"),
    ]

    operations = [migrations.RunSQL(_create(), _drop())]

"""Bump the policy version in the database on every write to a table the access rules read.

Statement-level triggers catch what Python signals miss — queryset.update(), bulk_create, raw SQL,
TRUNCATE — so a cache keyed by the policy version can never serve rows from an older state.
"""

from django.db import migrations

WATCHED = [
    "sharing_releasepolicy",
    "sharing_releasepolicy_confidential_elements",
    "sharing_surveyembargo",
    "sharing_agreement",
    "sharing_agreement_countries",
    "sharing_agreement_surveys",
    "sharing_agreement_elements",
    "sharing_membership",
    "sharing_organisation",
    "sharing_stewardship",
    "baselines_survey_countries",
]

FUNCTION = """
CREATE OR REPLACE FUNCTION sharing_bump_policy_version() RETURNS trigger AS $$
BEGIN
    INSERT INTO sharing_policycounter (id, value, token) VALUES (1, 1, md5(random()::text))
    ON CONFLICT (id) DO UPDATE
        SET value = sharing_policycounter.value + 1, token = md5(random()::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def _triggers() -> str:
    sql = [FUNCTION]
    for table in WATCHED:
        sql.append(
            f"CREATE TRIGGER {table}_policy_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION sharing_bump_policy_version();"
        )
    # Staff see everything: a change of staff or active status changes visibility.
    sql.append(
        "CREATE TRIGGER auth_user_policy_version AFTER UPDATE OF is_staff, is_active ON auth_user "
        "FOR EACH STATEMENT EXECUTE FUNCTION sharing_bump_policy_version();"
    )
    return "\n".join(sql)


def _drop() -> str:
    sql = [f"DROP TRIGGER IF EXISTS {t}_policy_version ON {t};" for t in WATCHED]
    sql.append("DROP TRIGGER IF EXISTS auth_user_policy_version ON auth_user;")
    sql.append("DROP FUNCTION IF EXISTS sharing_bump_policy_version();")
    return "\n".join(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0002_policy_counter_token"),
        ("baselines", "0003_alter_country_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunSQL(_triggers(), _drop())]

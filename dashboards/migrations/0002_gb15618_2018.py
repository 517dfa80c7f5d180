"""Install GB 15618-2018 (docs/architecture.md §10) as the default soil standard."""

from django.db import migrations

from dashboards.standards import DATA_DIR, install_standard


def install(apps, schema_editor):
    install_standard(
        DATA_DIR / "gb15618_2018.json",
        apps.get_model("dashboards", "SoilStandard"),
        apps.get_model("dashboards", "StandardLimit"),
        apps.get_model("baselines", "Element"),
    )


def remove(apps, schema_editor):
    apps.get_model("dashboards", "SoilStandard").objects.filter(code="gb15618-2018").delete()


class Migration(migrations.Migration):
    dependencies = [("dashboards", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]

"""Load the element registry, sampling media and country boundaries."""

from django.db import migrations


def load(apps, schema_editor):
    from baselines import reference

    reference.load_elements(apps.get_model("baselines", "Element"))
    reference.load_media(apps.get_model("baselines", "Medium"))
    reference.load_countries(
        apps.get_model("baselines", "Country"), apps.get_model("baselines", "CountryPart")
    )


class Migration(migrations.Migration):
    dependencies = [("baselines", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]

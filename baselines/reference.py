"""Reference data every installation has: the element registry, sampling media and countries.

Loaded by a data migration, so functions here take the model classes as arguments (the migration
passes its historical models) and are safe to run again: they update rows in place.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from django.db import connection

from .element_data import element_records

DATA_DIR = Path(__file__).resolve().parent / "data"
COUNTRIES_FILE = DATA_DIR / "ne_50m_admin0_countries.geojson.gz"

MEDIA = [
    # code, English, Chinese, description
    ("topsoil", "Topsoil", "表层土壤", "Surface soil, typically 0–25 cm (incl. 0–5 cm)."),
    ("subsoil", "Subsoil / deep soil", "深层土壤", "Deeper soil, typically C horizon or >100 cm."),
    ("stream-sediment", "Stream sediment", "水系沉积物", "Active stream sediment, <2 mm or finer."),
    (
        "catchment-sediment",
        "Catchment (overbank / floodplain) sediment",
        "汇水域沉积物",
        "Overbank or floodplain sediment representing a large catchment.",
    ),
    ("humus", "Humus (O horizon)", "腐殖质", "Organic surface layer."),
    ("rock", "Rock", "岩石", "Bedrock samples."),
]


def load_elements(Element) -> int:
    # Migration 0002 passes the model of its day, which still stored the display unit; the
    # current model reads it from the CSV, so only fields the given model has are written.
    fields = {f.name for f in Element._meta.get_fields()}
    for record in element_records().values():
        values = {
            "atomic_number": record.atomic_number,
            "name_en": record.name_en,
            "name_zh": record.name_zh,
            "atomic_weight": record.atomic_weight,
            "display_unit": record.display_unit,
            "display_species": record.display_species,
            "groups": list(record.groups),
            "ggb76": record.ggb76,
        }
        Element.objects.update_or_create(
            symbol=record.symbol, defaults={k: v for k, v in values.items() if k in fields}
        )
    return len(element_records())


def load_media(Medium) -> int:
    for code, name_en, name_zh, description in MEDIA:
        Medium.objects.update_or_create(
            code=code,
            defaults={"name_en": name_en, "name_zh": name_zh, "description": description},
        )
    return len(MEDIA)


def load_countries(Country, CountryPart) -> int:
    """Countries from Natural Earth 1:50m admin-0, and their boundaries subdivided for lookups."""
    from django.contrib.gis.geos import GEOSGeometry, MultiPolygon

    with gzip.open(COUNTRIES_FILE, "rt", encoding="utf-8") as handle:
        features = json.load(handle)["features"]
    for feature in features:
        props = feature["properties"]
        geom = GEOSGeometry(json.dumps(feature["geometry"]), srid=4326)
        if geom.geom_type == "Polygon":
            geom = MultiPolygon(geom, srid=4326)
        Country.objects.update_or_create(
            adm0_a3=props["adm0_a3"],
            defaults={
                "iso_a3": props.get("iso_a3") or None,
                "iso_a2": props.get("iso_a2") or None,
                "iso_n3": props.get("iso_n3") or "",
                "name_en": props.get("name_en") or props["name"],
                "name_zh": props.get("name_zh") or "",
                "continent": props.get("continent") or "",
                "boundary": geom,
                "land_area_km2": float(props.get("area_km2_geodesic") or 0),
            },
        )
    CountryPart.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {CountryPart._meta.db_table} (country_id, geom)
            SELECT id, (ST_Dump(ST_Subdivide(boundary, 256))).geom FROM {Country._meta.db_table}
            """
        )
    return len(features)

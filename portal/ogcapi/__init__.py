"""OGC API – Features at ``/ogcapi/``: the samples each caller may see, as GDAL, QGIS and OWSLib
read any OGC server (``views``), every row through the access gate (``collections``, ``items``),
filters in CQL2 against a whitelist of queryables (``cql``), described in OpenAPI 3.0
(``openapi``)."""

"""Admin for administrative units (stewards also upload them on /certificates/units/) and a
read-only list of certificates (their content is signed: only revocation changes, on its page)."""

from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin

from .models import AdminUnit, Certificate


@admin.register(AdminUnit)
class AdminUnitAdmin(GISModelAdmin):
    list_display = ["code", "name_en", "name_zh", "level", "parent", "area_km2", "updated"]
    list_filter = ["level"]
    search_fields = ["code", "name_en", "name_zh"]
    readonly_fields = ["area_km2", "created_by"]


@admin.register(Certificate)
class CertificateAdmin(admin.ModelAdmin):
    list_display = ["public_id", "unit", "standard", "grade", "issued_at", "revoked_at"]
    list_filter = ["grade", "standard"]
    readonly_fields = [f.name for f in Certificate._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

"""Admin for soil standards (stewards and admins add standards with their source) and zones."""

from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin

from .models import SoilStandard, StandardLimit, Zone


class StandardLimitInline(admin.TabularInline):
    model = StandardLimit
    extra = 0


@admin.register(SoilStandard)
class SoilStandardAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "updated"]
    inlines = [StandardLimitInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Cached exceedance figures name the standard's ``updated``: a changed limit renews them.
        form.instance.save(update_fields=["updated"])


@admin.register(Zone)
class ZoneAdmin(GISModelAdmin):
    list_display = ["name_en", "name_zh", "kind", "area_km2", "created_by", "updated"]
    list_filter = ["kind"]
    readonly_fields = ["area_km2", "created_by"]

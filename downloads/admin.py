"""Download jobs in the admin: read-only (staff see who built which package, and its state)."""

from django.contrib import admin

from .models import DownloadJob


@admin.register(DownloadJob)
class DownloadJobAdmin(admin.ModelAdmin):
    list_display = ["public_id", "user", "format", "state", "rows_total", "created", "finished"]
    list_filter = ["state", "format"]
    search_fields = ["public_id", "user__username"]
    readonly_fields = [f.name for f in DownloadJob._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

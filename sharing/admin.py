"""Admin pages for the sharing tables (staff). Stewards edit their policy in the portal pages."""

from __future__ import annotations

from django.contrib import admin

from .models import (
    AccessRequest,
    Agreement,
    ApiToken,
    AuditEvent,
    LicenceAcceptance,
    Membership,
    Organisation,
    ReleasePolicy,
    Stewardship,
    SurveyEmbargo,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "country"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    search_fields = ["name"]


@admin.register(Stewardship)
class StewardshipAdmin(admin.ModelAdmin):
    list_display = ["user", "country"]
    raw_id_fields = ["user"]
    autocomplete_fields = ["country"]


@admin.register(ReleasePolicy)
class ReleasePolicyAdmin(admin.ModelAdmin):
    list_display = [
        "country", "in_force", "available_on", "public_precision_m", "prerelease_scale_m",
        "licence", "updated",
    ]  # fmt: skip
    list_filter = ["in_force"]
    filter_horizontal = ["confidential_elements"]
    autocomplete_fields = ["country"]
    readonly_fields = ["updated", "updated_by"]


@admin.register(SurveyEmbargo)
class SurveyEmbargoAdmin(admin.ModelAdmin):
    list_display = ["survey", "available_on", "reason"]


@admin.register(Agreement)
class AgreementAdmin(admin.ModelAdmin):
    list_display = ["title", "organisation", "valid_from", "valid_to", "precision_m"]
    filter_horizontal = ["countries", "surveys", "elements"]
    list_filter = ["organisation"]


@admin.register(LicenceAcceptance)
class LicenceAcceptanceAdmin(admin.ModelAdmin):
    list_display = ["user", "agreement", "licence_version", "accepted_at"]
    readonly_fields = [
        "user", "agreement", "licence_version", "licence_sha256", "accepted_at", "licence_text"
    ]  # fmt: skip


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff can see and revoke (delete) tokens; keys exist only as digests."""

    list_display = ["name", "user", "prefix", "created", "last_used"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["user", "name", "prefix", "key_digest", "created", "last_used"]

    def has_add_permission(self, request) -> bool:
        return False  # keys are created by their owner, who alone sees them once


@admin.register(AccessRequest)
class AccessRequestAdmin(admin.ModelAdmin):
    list_display = ["created", "user", "survey", "status", "decided_by"]
    list_filter = ["status"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created", "kind", "user", "country", "summary"]
    list_filter = ["kind", "country"]
    readonly_fields = ["created", "kind", "user", "country", "path", "summary", "before", "after"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

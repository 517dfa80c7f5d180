"""Pages of the sharing app: accounts and tokens, access requests, stewardship, audit log."""

from django.urls import path

from .views import accounts, requests, steward

app_name = "sharing"
urlpatterns = [
    path("accounts/register/", accounts.register, name="register"),
    path("accounts/me/", accounts.account, name="account"),
    path("accounts/me/tokens/", accounts.token_create, name="token-create"),
    path("accounts/me/tokens/<int:pk>/revoke/", accounts.token_revoke, name="token-revoke"),
    path("agreements/<int:pk>/licence/", accounts.licence_accept_view, name="licence-accept"),
    path("surveys/<slug:slug>/request-access/", requests.request_access, name="request-access"),
    path("steward/", steward.steward_home, name="steward-home"),
    path("steward/<str:country>/policy/", steward.policy_edit, name="policy-edit"),
    path("steward/<str:country>/audit/", steward.audit_log, name="audit-log"),
    path("steward/requests/<int:pk>/", steward.request_decide, name="request-decide"),
]

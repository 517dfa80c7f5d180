"""``/ogcapi/``: OGC API – Features (``ogcapi:``), served through the access gate."""

from django.urls import path

from . import views

app_name = "ogcapi"
urlpatterns = [
    path("", views.LandingView.as_view(), name="landing"),
    path("conformance", views.ConformanceView.as_view(), name="conformance"),
    path("api", views.ApiView.as_view(), name="api"),
    path("collections", views.CollectionsView.as_view(), name="collections"),
    path("collections/<str:collection>", views.CollectionView.as_view(), name="collection"),
    path(
        "collections/<str:collection>/queryables",
        views.QueryablesView.as_view(),
        name="queryables",
    ),
    path(
        "collections/<str:collection>/sortables",
        views.SortablesView.as_view(),
        name="sortables",
    ),
    path("collections/<str:collection>/items", views.ItemsView.as_view(), name="items"),
    path(
        "collections/<str:collection>/items/<str:feature>",
        views.ItemView.as_view(),
        name="item",
    ),
]

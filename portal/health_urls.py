"""/health/ (chemearth/urls.py includes it): the portal's health for load balancers and monitors."""

from django.urls import path

from . import health

urlpatterns = [path("", health.health, name="health")]

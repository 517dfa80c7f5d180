from django.apps import AppConfig


class BaselinesConfig(AppConfig):
    verbose_name = "Baselines"
    name = "baselines"

from django.apps import AppConfig


class MonolithImportConfig(AppConfig):
    """Moving the orders' data out of the monolith: once, verifiably, resumably."""

    name = "monolith_import"

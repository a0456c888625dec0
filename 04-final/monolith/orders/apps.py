from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    # The admin's heading: this app keeps only the copy made before orders moved to their service.
    verbose_name = "Orders (frozen copy: live orders are in the orders service)"

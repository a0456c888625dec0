from django.contrib import admin

from inventory.models import Stock


@admin.register(Stock)
class StockAdmin(admin.ModelAdmin):
    list_display = ["product", "quantity"]
    list_editable = ["quantity"]

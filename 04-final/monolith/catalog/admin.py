from django.contrib import admin

from catalog.models import Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "price_cents", "active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

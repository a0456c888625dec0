from django.contrib import admin

from orders.models import Order, OrderLine


class LineInline(admin.TabularInline):
    model = OrderLine
    extra = 0


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "status", "total_cents", "created_at"]
    list_filter = ["status"]
    inlines = [LineInline]

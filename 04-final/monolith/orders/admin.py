"""Read-only since stage 02: these rows belong to the orders service once copied."""

from django.contrib import admin

from orders.models import Order, OrderLine


class ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LineInline(ReadOnly, admin.TabularInline):
    model = OrderLine
    extra = 0


@admin.register(Order)
class OrderAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["id", "customer", "status", "total_cents", "created_at"]
    list_filter = ["status"]
    inlines = [LineInline]

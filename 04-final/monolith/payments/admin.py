from django.contrib import admin

from payments.models import Payment


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["charge_ref", "order", "amount_cents", "status", "card_last4"]
    readonly_fields = ["order", "amount_cents", "status", "charge_ref", "refund_ref", "card_last4"]

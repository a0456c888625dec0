from django.db import models


class Payment(models.Model):
    class Status(models.TextChoices):
        CHARGED = "charged"
        REFUNDED = "refunded"

    order = models.OneToOneField("orders.Order", on_delete=models.CASCADE, related_name="payment")
    amount_cents = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices)
    charge_ref = models.CharField(max_length=40)
    refund_ref = models.CharField(max_length=40, blank=True)
    card_last4 = models.CharField(max_length=4)

    def __str__(self):
        return f"{self.charge_ref} {self.status}"


class ProviderCharge(models.Model):
    """The fake provider's own ledger, as a real one keeps it: a charge per idempotency key.

    A saga step that charges twice (a redelivered message, a worker killed after the charge) sends
    the same key and gets the first charge back, the way Stripe's Idempotency-Key works. The
    provider is "elsewhere": it commits on its own, outside our transactions.
    """

    idempotency_key = models.CharField(max_length=64, unique=True)
    charge_ref = models.CharField(max_length=40)
    amount_cents = models.PositiveIntegerField()
    refunded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.idempotency_key} {self.charge_ref or 'tombstone'}"

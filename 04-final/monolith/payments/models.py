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

"""The monolith's order tables as they are (read only, through the "monolith" database alias),
and the checkpoint that makes the copy resumable."""

from django.db import models


class Checkpoint(models.Model):
    """How far the copy got. Written in the same transaction as each batch it describes, so after
    a crash it is exactly right: the batch and its checkpoint both landed, or neither did."""

    name = models.CharField(max_length=40, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    copied = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.name}: {self.copied} copied, up to id {self.last_id}"


class LegacyOrder(models.Model):
    customer_id = models.BigIntegerField()
    status = models.CharField(max_length=10)
    reason = models.CharField(max_length=40)
    total_cents = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "orders_order"

    def __str__(self):
        return f"monolith {self._meta.db_table} {self.id}"


class LegacyOrderLine(models.Model):
    order_id = models.BigIntegerField()
    product_id = models.PositiveIntegerField()
    product_name = models.CharField(max_length=120)
    unit_price_cents = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField()

    class Meta:
        managed = False
        db_table = "orders_orderline"

    def __str__(self):
        return f"monolith {self._meta.db_table} {self.id}"


class LegacyPayment(models.Model):
    order_id = models.BigIntegerField()
    amount_cents = models.PositiveIntegerField()
    status = models.CharField(max_length=10)
    charge_ref = models.CharField(max_length=40)
    refund_ref = models.CharField(max_length=40)
    card_last4 = models.CharField(max_length=4)

    class Meta:
        managed = False
        db_table = "payments_payment"

    def __str__(self):
        return f"monolith {self._meta.db_table} {self.id}"

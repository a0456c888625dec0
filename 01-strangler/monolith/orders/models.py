from django.conf import settings
from django.db import models


class Order(models.Model):
    class Status(models.TextChoices):
        # A client polls until the status is final; stage 00 never shows PENDING, but the
        # asynchronous stages do, and the contract had room for them from day one.
        PENDING = "pending"
        CONFIRMED = "confirmed"
        REJECTED = "rejected"
        CANCELLED = "cancelled"

    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=40, blank=True)
    total_cents = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"order {self.id} ({self.status})"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product_id = models.PositiveIntegerField()
    # Copied at order time: a later price or name change must not rewrite history.
    product_name = models.CharField(max_length=120)
    unit_price_cents = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.quantity} x {self.product_name}"


class IdempotencyKey(models.Model):
    """One customer's `Idempotency-Key` and what its first request answered.

    The row is claimed (committed, no outcome yet) before the order is placed, so a concurrent
    duplicate sees it and answers 409 instead of placing a second order; the outcome is written
    in the same transaction as the order (or right after a business rejection). A claim whose
    request died holds the key until `lease_until`, then the next retry takes it over.
    """

    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)  # SHA-256 of the body's canonical JSON
    claim = models.CharField(max_length=32)  # who holds the key now (a takeover changes it)
    lease_until = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True)  # null: still in flight
    order = models.ForeignKey(Order, null=True, on_delete=models.SET_NULL, related_name="+")
    response_body = models.JSONField(null=True)  # a recorded rejection's body
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "key"], name="one_use_per_customer_key"),
        ]

    def __str__(self):
        return f"{self.customer_id}:{self.key} -> {self.status_code or 'in flight'}"

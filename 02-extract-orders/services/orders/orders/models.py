from django.db import models
from django.utils import timezone


class Order(models.Model):
    class Status(models.TextChoices):
        # A client polls until the status is final; this stage decides at once, but the
        # asynchronous stages answer PENDING first, and the contract had room for it from day one.
        PENDING = "pending"
        CONFIRMED = "confirmed"
        REJECTED = "rejected"
        CANCELLED = "cancelled"

    # The customer lives in the monolith now: a plain id, no foreign key across databases.
    customer_id = models.BigIntegerField(db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=40, blank=True)
    total_cents = models.PositiveIntegerField(default=0)
    # A default, not auto_now_add: orders copied from the monolith keep their own date.
    created_at = models.DateTimeField(default=timezone.now)
    # The inventory's handle on the units this order holds: cancelling releases it.
    reservation_id = models.CharField(max_length=64, unique=True)

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


class StrandedReservation(models.Model):
    """A reservation this service must give back but could not (the inventory did not answer).

    Written in its own transaction the moment a release fails, so it survives whatever fails
    next; `manage.py release_stranded` retries them until the inventory takes them back.
    """

    reservation_id = models.CharField(max_length=64, primary_key=True)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=1)

    def __str__(self):
        return self.reservation_id

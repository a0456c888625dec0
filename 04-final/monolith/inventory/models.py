from django.db import models


class Stock(models.Model):
    product = models.OneToOneField(
        "catalog.Product", on_delete=models.CASCADE, primary_key=True, related_name="stock"
    )
    quantity = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # The database itself refuses negative stock, whatever the code above it does.
            models.CheckConstraint(condition=models.Q(quantity__gte=0), name="stock_never_negative")
        ]

    def __str__(self):
        return f"{self.product_id}: {self.quantity}"


class Reservation(models.Model):
    """Units set aside for a caller, by the caller's own id: the handle for an idempotent API.

    A reservation is PENDING until its caller confirms it (the caller's order is committed),
    and a pending one expires: a caller that crashed, or gave up, never leaves units taken for
    good, because the sweeper (rpc/sweeper.py, in the gRPC server's process) releases what
    expired unconfirmed. CONFIRMED units stay taken until released (a cancelled order).

    Reserving the same id twice reserves once. Releasing gives the units back once. A release
    that arrives first (the caller timed out and gave up) leaves a RELEASED row with no lines,
    a tombstone, so the late reserve finds it and reserves nothing.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        RELEASED = "released"

    reservation_id = models.CharField(max_length=64, primary_key=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    # [{"product_id", "product_name", "unit_price_cents", "quantity"}]: what to give back
    lines = models.JSONField(default=list)
    # Set while PENDING: after this moment the sweeper gives the units back.
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # The sweeper's one question: which pending reservations have expired?
            models.Index(fields=["status", "expires_at"], name="reservation_expiry"),
        ]

    def __str__(self):
        return f"{self.reservation_id} {self.status}"

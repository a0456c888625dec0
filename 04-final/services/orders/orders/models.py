from django.db import models
from django.utils import timezone


class Order(models.Model):
    class Status(models.TextChoices):
        # A client polls until the status is final. Here an order is PENDING only between its
        # commit and the inventory's confirmation of its units, a moment a client sees only if
        # the service died in between (the sweeper then settles it); the asynchronous stages
        # answer PENDING first, and the contract had room for it from day one.
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
    """A reservation this service must give back but could not (yet): the inventory did not
    answer, or an order was undone and its release is owed.

    Written the moment a release fails (or with the undo, in the same transaction), so it
    survives whatever fails next; the sweeper (`manage.py sweep`) retries them until the
    inventory takes them back.
    """

    reservation_id = models.CharField(max_length=64, primary_key=True)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=1)

    def __str__(self):
        return self.reservation_id


class IdempotencyKey(models.Model):
    """A client's retry handle for placing an order (`Idempotency-Key`, docs/api-contract.md).

    Claimed before any work (a second request with the key while the first runs is told so),
    and completed in the same transaction as the order it created, or with the business
    rejection it answered: a retry then gets that answer again, never a second order. Answers
    that kept nothing (503, 504) delete the claim, so a retry runs again.
    """

    customer_id = models.BigIntegerField()
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)  # SHA-256 of the canonical JSON body
    # Which request holds the key: only that one may complete it (a later one may take over an
    # in-flight claim whose request died, once `locked_until` has passed).
    attempt = models.CharField(max_length=32)
    locked_until = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True)  # None: still in flight
    body = models.JSONField(null=True)  # a recorded rejection's answer
    # Undoing an order (it could not be confirmed in time) deletes its key with it.
    order = models.OneToOneField(Order, null=True, on_delete=models.CASCADE,
                                 related_name="idempotency_key")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer_id", "key"],
                                               name="one_claim_per_customer_and_key")]

    def __str__(self):
        return f"{self.customer_id}/{self.key}"


class PlaceOrderSaga(models.Model):
    """One placed order's saga, persisted as a state machine (orders/sagas/place_order.py).

    Created in the same transaction as its order. `state` names the step in flight (or the final
    outcome); a step's message must be answered by `step_deadline`, or the sweeper sends it again
    (`attempts` counts the sends).
    """

    order = models.OneToOneField(Order, on_delete=models.CASCADE, primary_key=True,
                                 related_name="saga")
    state = models.CharField(max_length=20, db_index=True)
    reason = models.CharField(max_length=40, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    step_deadline = models.DateTimeField(db_index=True)
    # What the steps need that the order does not keep: the card number (until it is charged,
    # then erased), the customer's email for the confirmation.
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True)

    def __str__(self):
        return f"saga of order {self.order_id}: {self.state}"


class OutboxMessage(models.Model):
    """A message to publish, written in the same transaction as the state change it announces.

    The relay (orders/events/relay.py) publishes unsent rows in `position` order and marks them
    sent: a crash between the two sends a row again (at least once), never loses it.
    """

    position = models.BigAutoField(primary_key=True)
    message_id = models.UUIDField(unique=True)
    type = models.CharField(max_length=60)
    version = models.PositiveSmallIntegerField()
    aggregate_id = models.CharField(max_length=64)
    envelope = models.JSONField()  # what is published, headers included
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, db_index=True)

    def __str__(self):
        return f"{self.type} v{self.version} {self.message_id}"


class InboxMessage(models.Model):
    """A message a consumer has processed, recorded in the same transaction as its effect: a
    second delivery finds it here and does nothing (the idempotent consumer)."""

    consumer = models.CharField(max_length=40)
    message_id = models.UUIDField()
    processed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["consumer", "message_id"],
                                               name="one_effect_per_consumer_and_message")]

    def __str__(self):
        return f"{self.consumer} {self.message_id}"


class DeadLetter(models.Model):
    """A message no consumer could process: poison (malformed, unknown type, wrong version) at
    once, or a transient failure after its last retry. `manage.py dead_letters list|replay`."""

    class Kind(models.TextChoices):
        POISON = "poison"
        EXHAUSTED = "exhausted"

    message_id = models.CharField(max_length=64, db_index=True)
    type = models.CharField(max_length=60, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    error = models.TextField()
    body = models.JSONField(null=True)  # the message as received (None: not JSON at all)
    raw = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    replayed_at = models.DateTimeField(null=True)

    def __str__(self):
        return f"{self.kind} {self.type or '?'} {self.message_id}"

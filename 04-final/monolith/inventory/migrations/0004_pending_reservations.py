"""Reservations become crash-safe: PENDING until the caller confirms, with an expiry.

A reservation made before this migration was held for an order that exists (the legacy orders'
reservations, or orders the orders service recorded): it becomes CONFIRMED.
"""

from django.db import migrations, models


def reserved_is_confirmed(apps, schema_editor):
    Reservation = apps.get_model("inventory", "Reservation")
    Reservation.objects.filter(status="reserved").update(status="confirmed")


def confirmed_is_reserved(apps, schema_editor):
    Reservation = apps.get_model("inventory", "Reservation")
    Reservation.objects.filter(status__in=["pending", "confirmed"]).update(status="reserved")


class Migration(migrations.Migration):
    dependencies = [("inventory", "0003_reservations_for_legacy_orders")]

    operations = [
        migrations.AddField(
            model_name="reservation",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="reservation",
            name="status",
            field=models.CharField(
                choices=[("pending", "Pending"), ("confirmed", "Confirmed"),
                         ("released", "Released")],
                max_length=10,
            ),
        ),
        migrations.AddIndex(
            model_name="reservation",
            index=models.Index(fields=["status", "expires_at"], name="reservation_expiry"),
        ),
        migrations.RunPython(reserved_is_confirmed, confirmed_is_reserved),
    ]

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("orders", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="IdempotencyKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=255)),
                ("request_hash", models.CharField(max_length=64)),
                ("claim", models.CharField(max_length=32)),
                ("lease_until", models.DateTimeField()),
                ("status_code", models.PositiveSmallIntegerField(null=True)),
                ("response_body", models.JSONField(null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("customer", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to=settings.AUTH_USER_MODEL)),
                ("order", models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="orders.order")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("customer", "key"), name="one_use_per_customer_key")],
            },
        ),
    ]

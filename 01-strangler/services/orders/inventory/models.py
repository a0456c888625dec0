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

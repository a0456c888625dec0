from rest_framework import serializers

from catalog.models import Product


class ProductSerializer(serializers.ModelSerializer):
    stock = serializers.SerializerMethodField(help_text="Units available now.")

    class Meta:
        model = Product
        fields = ["id", "slug", "name", "description", "price_cents", "stock"]

    def get_stock(self, product) -> int:
        # A join into inventory's table: cheap in a monolith, and exactly the kind of coupling
        # that extracting a service later has to replace with a call.
        stock = getattr(product, "stock", None)
        return stock.quantity if stock else 0

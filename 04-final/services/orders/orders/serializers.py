from rest_framework import serializers

from orders.models import Order, OrderLine


class LineIn(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    # Whether the product exists is the inventory's to say (NOT_FOUND -> 400 on product_id).
    quantity = serializers.IntegerField(min_value=1, max_value=100)


class PlaceOrderIn(serializers.Serializer):
    lines = LineIn(many=True, allow_empty=False, max_length=20)
    card_number = serializers.RegexField(
        r"^\d{12,19}$", error_messages={"invalid": "A card number is 12 to 19 digits."}
    )


class LineOut(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["product_id", "product_name", "quantity", "unit_price_cents"]


class OrderOut(serializers.ModelSerializer):
    lines = LineOut(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ["id", "status", "reason", "total_cents", "lines", "created_at"]
        # created_at has a default (copied orders keep their date), not auto_now_add: without
        # this, the schema would offer it as writable.
        read_only_fields = fields


class Rejection(serializers.Serializer):
    """The body of a business rejection (402, 409): a machine code and a human sentence."""

    code = serializers.CharField()
    detail = serializers.CharField()
    product_id = serializers.IntegerField(required=False)

from django.core.mail import send_mail


def send_order_confirmation(order, customer) -> None:
    """customer: who placed it (the monolith's record, from their token): name and email."""
    lines = "\n".join(
        f"  {line.quantity} x {line.product_name} @ {line.unit_price_cents / 100:.2f}"
        for line in order.lines.all()
    )
    send_mail(
        subject=f"Your order #{order.id} is confirmed",
        message=f"Thank you, {customer.username}!\n\n{lines}\n\n"
        f"Total: {order.total_cents / 100:.2f}\n",
        from_email=None,
        recipient_list=[customer.email or f"{customer.username}@example.com"],
    )


def send_order_confirmed(event: dict) -> None:
    """The order.confirmed event's consumer (orders/events/consumer.py): the email, once."""
    from orders.models import Order

    order = Order.objects.prefetch_related("lines").get(pk=event["order_id"])
    lines = "\n".join(
        f"  {line.quantity} x {line.product_name} @ {line.unit_price_cents / 100:.2f}"
        for line in order.lines.all()
    )
    send_mail(
        subject=f"Your order #{order.id} is confirmed",
        message=f"Thank you!\n\n{lines}\n\nTotal: {order.total_cents / 100:.2f}\n",
        from_email=None,
        recipient_list=[event["customer_email"] or f"customer-{order.customer_id}@example.com"],
    )

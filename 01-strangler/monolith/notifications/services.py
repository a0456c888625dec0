from django.core.mail import send_mail


def send_order_confirmation(order) -> None:
    lines = "\n".join(
        f"  {line.quantity} x {line.product_name} @ {line.unit_price_cents / 100:.2f}"
        for line in order.lines.all()
    )
    send_mail(
        subject=f"Your order #{order.id} is confirmed",
        message=f"Thank you, {order.customer.username}!\n\n{lines}\n\n"
        f"Total: {order.total_cents / 100:.2f}\n",
        from_email=None,
        recipient_list=[order.customer.email or f"{order.customer.username}@example.com"],
    )

from django.conf import settings


def shop(request):
    # The cart lives in the shared session, so the nav shows the same count on both sides.
    cart = request.session.get("cart", {}) if hasattr(request, "session") else {}
    return {"service_name": settings.SERVICE_NAME, "cart_count": sum(cart.values())}

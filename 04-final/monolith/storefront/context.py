from django.conf import settings


def shop(request):
    cart = request.session.get("cart", {}) if hasattr(request, "session") else {}
    return {"service_name": settings.SERVICE_NAME, "cart_count": sum(cart.values())}

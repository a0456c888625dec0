"""The order pages, moved here from the monolith's storefront: history and detail (+ cancel)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path

from orders import services


@login_required
def order_history(request):
    return render(
        request, "orders/order_history.html", {"orders": services.orders_of(request.user)}
    )


@login_required
def order_detail(request, pk):
    order = get_object_or_404(services.orders_of(request.user), pk=pk)
    if request.method == "POST":
        try:
            services.cancel_order(request.user, pk)
            messages.success(request, f"Order #{pk} is cancelled and refunded.")
        except services.NotCancellable as exc:
            messages.error(request, str(exc))
        return redirect("order-detail", pk=pk)
    return render(request, "orders/order_detail.html", {"order": order})


urlpatterns = [
    path("orders/", order_history, name="order-history"),
    path("orders/<int:pk>/", order_detail, name="order-detail"),
]

"""The HTML storefront. It calls the same services as the API: one use case, two entry points."""

from django.contrib import messages
from django.contrib.auth import views as auth
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from catalog.services import active_products, products_by_id
from orders import services as orders

# The fake payment provider's test cards, shown on the checkout page. Copied, not imported from
# payments' internals: the storefront talks to the contexts through their services only.
DECLINE_CARD = "4000000000000002"
TIMEOUT_CARD = "4000000000000119"

REASONS = {
    "out_of_stock": "Sorry, we do not have enough of {product} left.",
    "payment_declined": "Your card was declined. Nothing was charged and nothing reserved.",
    "payment_timeout": "The payment provider did not answer in time. Nothing was charged.",
}

# Why a page sent the visitor to log in, by the path they were going to (longest prefix first).
WHY_LOG_IN = [
    ("/checkout/", "Please log in to check out. Your cart is kept."),
    ("/orders/", "Please log in to see your orders."),
    ("/", "Please log in to see that page."),
]


class LoginView(auth.LoginView):
    """Django's login page, plus a line that says why the visitor was sent here."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        going_to = context.get(self.redirect_field_name) or ""
        context["why"] = next(
            (why for prefix, why in WHY_LOG_IN if going_to.startswith(prefix)), None
        )
        return context


def product_list(request):
    query = request.GET.get("q", "").strip()
    products = active_products().select_related("stock")
    if query:
        products = products.filter(Q(name__icontains=query) | Q(description__icontains=query))
    page = Paginator(products, 12).get_page(request.GET.get("page"))
    return render(request, "storefront/product_list.html", {"page": page, "q": query})


def product_detail(request, slug):
    product = get_object_or_404(active_products().select_related("stock"), slug=slug)
    return render(request, "storefront/product_detail.html", {"product": product})


def _cart_lines(request):
    cart = request.session.get("cart", {})
    products = products_by_id([int(pid) for pid in cart])
    lines = [
        {
            "product": products[int(pid)],
            "quantity": qty,
            "subtotal_cents": products[int(pid)].price_cents * qty,
        }
        for pid, qty in cart.items()
        if int(pid) in products
    ]
    return lines, sum(line["subtotal_cents"] for line in lines)


@require_POST
def cart_add(request, product_id):
    if product_id not in products_by_id([product_id]):
        raise Http404("no such product")
    try:
        quantity = max(1, min(100, int(request.POST.get("quantity", 1))))
    except ValueError:
        quantity = 1
    cart = request.session.get("cart", {})
    cart[str(product_id)] = min(100, cart.get(str(product_id), 0) + quantity)
    request.session["cart"] = cart
    messages.success(request, "Added to your cart.")
    return redirect("cart")


@require_POST
def cart_clear(request):
    request.session["cart"] = {}
    return redirect("cart")


def cart(request):
    lines, total = _cart_lines(request)
    return render(request, "storefront/cart.html", {"lines": lines, "total_cents": total})


@login_required
def checkout(request):
    lines, total = _cart_lines(request)
    if not lines:
        return redirect("cart")
    error = None
    if request.method == "POST":
        card = "".join(request.POST.get("card_number", "").split())
        if not (card.isdigit() and 12 <= len(card) <= 19):
            error = "A card number is 12 to 19 digits."
        else:
            try:
                order = orders.place_order(
                    request.user,
                    [orders.Line(line["product"].id, line["quantity"]) for line in lines],
                    card,
                )
            except orders.OutOfStock as exc:
                names = {line["product"].id: line["product"].name for line in lines}
                error = REASONS["out_of_stock"].format(product=names.get(exc.product_id))
            except orders.PaymentFailed as exc:
                error = REASONS[exc.code]
            else:
                request.session["cart"] = {}
                messages.success(request, f"Thank you! Order #{order.id} is {order.status}.")
                return redirect("order-detail", pk=order.id)
    return render(
        request,
        "storefront/checkout.html",
        {
            "lines": lines,
            "total_cents": total,
            "error": error,
            "test_cards": [
                ("4242424242424242", "succeeds"),
                (DECLINE_CARD, "declines"),
                (TIMEOUT_CARD, "times out"),
            ],
        },
    )


@login_required
def order_history(request):
    return render(
        request, "storefront/order_history.html", {"orders": orders.orders_of(request.user)}
    )


@login_required
def order_detail(request, pk):
    order = get_object_or_404(orders.orders_of(request.user), pk=pk)
    if request.method == "POST":
        try:
            orders.cancel_order(request.user, pk)
            messages.success(request, f"Order #{pk} is cancelled and refunded.")
        except orders.NotCancellable as exc:
            messages.error(request, str(exc))
        return redirect("order-detail", pk=pk)
    return render(request, "storefront/order_detail.html", {"order": order})

"""The HTML storefront. Catalog pages read the monolith's own contexts; since stage 02 the
order pages are clients of the orders service: HTTP to place and cancel, gRPC to read."""

from django.contrib import messages
from django.contrib.auth import views as auth
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from catalog.services import active_products, products_by_id
from storefront.clients import orders_grpc, orders_http

# The fake payment provider's test cards (the orders service owns payments now).
DECLINE_CARD = "4000000000000002"
TIMEOUT_CARD = "4000000000000119"

REASONS = {
    "out_of_stock": "Sorry, we do not have enough of {product} left.",
    "payment_declined": "Your card was declined. Nothing was charged and nothing reserved.",
    "payment_timeout": "The payment provider did not answer in time. Nothing was charged.",
}
UNAVAILABLE = "Your orders are unavailable right now. Please try again soon."
# No answer is not "no": the orders service may have finished after we stopped waiting.
# Saying "nothing was ordered" here could be a lie, and the customer would order twice.
UNANSWERED = ("The orders service did not answer in time: your order may or may not have "
              "gone through. Please check My orders before you try again.")


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


def orders_client(user) -> orders_http.OrdersClient:
    """The orders API, called as this customer: with their own token, made on first use."""
    token, _ = Token.objects.get_or_create(user=user)
    return orders_http.OrdersClient(token.key)


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
                order = orders_client(request.user).place_order(
                    [(line["product"].id, line["quantity"]) for line in lines], card
                )
            except orders_http.Rejected as exc:
                names = {line["product"].id: line["product"].name for line in lines}
                error = REASONS.get(exc.code, exc.detail).format(
                    product=names.get(exc.product_id)
                )
            except orders_http.Invalid as exc:
                error = f"The order was refused: {exc.errors}"
            except orders_http.Unavailable:
                error = UNANSWERED
            else:
                request.session["cart"] = {}
                messages.success(
                    request, f"Thank you! Order #{order['id']} is {order['status']}."
                )
                return redirect("order-detail", pk=order["id"])
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
    # Graceful degradation: with the orders service down, the page still renders and says so.
    try:
        (history, lag), unavailable = orders_grpc.history_of(request.user.id), None
    except orders_grpc.Unavailable:
        history, lag, unavailable = [], orders_grpc.Lag(), UNAVAILABLE
    return render(
        request,
        "storefront/order_history.html",
        {"orders": history, "unavailable": unavailable, "lag": lag},
    )


@login_required
def order_detail(request, pk):
    if request.method == "POST":
        try:
            orders_client(request.user).cancel_order(pk)
            messages.success(request, f"Order #{pk} is cancelled and refunded.")
        except orders_http.NotFound as exc:
            raise Http404("no such order") from exc
        except orders_http.Rejected as exc:
            messages.error(request, exc.detail)
        except orders_http.Unavailable:
            messages.error(request, UNANSWERED)
        return redirect("order-detail", pk=pk)
    try:
        order = orders_grpc.order_of(request.user.id, pk)
    except orders_grpc.NotFound as exc:
        raise Http404("no such order") from exc
    except orders_grpc.Unavailable:
        return render(request, "storefront/order_history.html",
                      {"orders": [], "unavailable": UNAVAILABLE}, status=503)
    return render(request, "storefront/order_detail.html", {"order": order})

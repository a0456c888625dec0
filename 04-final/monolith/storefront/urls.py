from django.contrib.auth import views as auth
from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from storefront import views

urlpatterns = [
    # Browsers ask for /favicon.ico on pages without an icon link (the admin, the API docs).
    path("favicon.ico", RedirectView.as_view(url=static("storefront/favicon.svg"), permanent=True)),
    path("", views.product_list, name="product-list-page"),
    path("products/<slug:slug>/", views.product_detail, name="product-page"),
    path("cart/", views.cart, name="cart"),
    path("cart/add/<int:product_id>/", views.cart_add, name="cart-add"),
    path("cart/clear/", views.cart_clear, name="cart-clear"),
    path("checkout/", views.checkout, name="checkout"),
    path("orders/", views.order_history, name="order-history"),
    path("orders/<int:pk>/", views.order_detail, name="order-detail"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth.LogoutView.as_view(), name="logout"),
]

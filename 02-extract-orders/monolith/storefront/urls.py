from django.contrib.auth import views as auth
from django.urls import path

from storefront import views

urlpatterns = [
    path("", views.product_list, name="product-list-page"),
    path("products/<slug:slug>/", views.product_detail, name="product-page"),
    path("cart/", views.cart, name="cart"),
    path("cart/add/<int:product_id>/", views.cart_add, name="cart-add"),
    path("cart/clear/", views.cart_clear, name="cart-clear"),
    path("checkout/", views.checkout, name="checkout"),
    path("orders/", views.order_history, name="order-history"),
    path("orders/<int:pk>/", views.order_detail, name="order-detail"),
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth.LogoutView.as_view(), name="logout"),
]

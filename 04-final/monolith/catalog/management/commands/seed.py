"""Deterministic demo data. Safe to re-run: it updates in place and never duplicates."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from catalog.models import Product
from inventory.models import Reservation, Stock
from orders.models import Order, OrderLine
from payments.models import Payment

STAFF = ("admin", "workshop-admin")
CUSTOMERS = [("alice", "wonderland"), ("bob", "builder"), ("carol", "christmas")]

# Orders placed before the split (stage 01 and earlier), still in the monolith's tables until
# the orders service copies them: (customer, status, [(product slug, quantity)]).
LEGACY_ORDERS = [
    ("alice", "confirmed", [("french-press", 1), ("coffee-beans-house", 2)]),
    ("alice", "cancelled", [("moka-pot", 1)]),
    ("bob", "confirmed", [("green-tea", 3)]),
    ("carol", "confirmed", [("ceramic-mug", 2), ("biscotti", 1)]),
]

# (slug, name, price in cents, stock, description)
PRODUCTS = [
    ("espresso-cup", "Espresso cup", 900, 40, "A small white porcelain cup for one shot."),
    ("french-press", "French press", 3400, 12, "Glass and steel, one litre."),
    ("pour-over-kettle", "Pour-over kettle", 5900, 8, "Gooseneck kettle for a steady pour."),
    ("burr-grinder", "Burr grinder", 12900, 6, "Conical burrs, forty grind settings."),
    ("coffee-beans-house", "House coffee beans", 1450, 50, "Medium roast, chocolate notes."),
    ("coffee-beans-decaf", "Decaf coffee beans", 1550, 30, "Swiss water decaf, nutty."),
    ("green-tea", "Green tea", 850, 45, "Sencha leaves, grassy and fresh."),
    ("black-tea", "Black tea", 750, 45, "Assam leaves, strong and malty."),
    ("tea-infuser", "Tea infuser", 600, 35, "Stainless steel mesh ball."),
    ("milk-frother", "Milk frother", 2400, 15, "Handheld, battery powered."),
    ("travel-mug", "Travel mug", 1900, 25, "Keeps coffee hot for six hours."),
    ("ceramic-mug", "Ceramic mug", 1200, 30, "Hand glazed, dishwasher safe."),
    ("moka-pot", "Moka pot", 2900, 10, "Stovetop espresso for three cups."),
    ("cold-brew-jar", "Cold brew jar", 2200, 14, "Brew overnight in the fridge."),
    ("digital-scale", "Digital scale", 2700, 9, "Weighs to a tenth of a gram, with timer."),
    ("paper-filters", "Paper filters", 500, 50, "Pack of one hundred, unbleached."),
    ("coffee-canister", "Coffee canister", 1800, 20, "Airtight, keeps beans fresh."),
    ("biscotti", "Almond biscotti", 650, 40, "Twice baked, for dunking."),
    ("dark-chocolate", "Dark chocolate", 450, 50, "Seventy percent cocoa bar."),
    ("honey-jar", "Honey jar", 950, 22, "Wildflower honey for your tea."),
    ("espresso-machine", "Espresso machine", 49900, 5, "Fifteen bar pump, steam wand."),
    ("tamper", "Espresso tamper", 1600, 18, "Fifty-eight millimetre steel base."),
    ("knock-box", "Knock box", 2100, 11, "For spent espresso pucks."),
    ("last-teapot", "The last teapot", 4500, 1, "Cast iron, one of a kind: one left."),
]


class Command(BaseCommand):
    help = "Create the demo users, products and stock (deterministic, idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        admin, _ = User.objects.update_or_create(
            username=STAFF[0],
            defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"},
        )
        admin.set_password(STAFF[1])
        admin.save()
        for username, password in CUSTOMERS:
            user, _ = User.objects.update_or_create(
                username=username, defaults={"email": f"{username}@example.com"}
            )
            user.set_password(password)
            user.save()
        for slug, name, price, stock, description in PRODUCTS:
            product, _ = Product.objects.update_or_create(
                slug=slug,
                defaults={
                    "name": name,
                    "price_cents": price,
                    "description": description,
                    "active": True,
                },
            )
            # Stock is set only when first created: re-seeding must not undo orders placed since.
            Stock.objects.get_or_create(product=product, defaults={"quantity": stock})
        if not Order.objects.exists():
            self.legacy_orders()
        self.stdout.write(
            f"seeded {len(PRODUCTS)} products, {len(CUSTOMERS)} customers and 1 staff user, "
            f"{Order.objects.count()} legacy orders"
        )

    def legacy_orders(self):
        """History from before the split, with the reservation each one holds (see inventory
        migration 0003): the data `copy_orders_from_monolith` moves to the orders service."""
        users = {u.username: u for u in get_user_model().objects.all()}
        for number, (username, status, items) in enumerate(LEGACY_ORDERS, start=1):
            products = [(Product.objects.get(slug=slug), qty) for slug, qty in items]
            order = Order.objects.create(
                customer=users[username], status=status,
                total_cents=sum(p.price_cents * qty for p, qty in products),
            )
            lines = [{"product_id": p.id, "product_name": p.name,
                      "unit_price_cents": p.price_cents, "quantity": qty} for p, qty in products]
            OrderLine.objects.bulk_create(OrderLine(order=order, **line) for line in lines)
            Payment.objects.create(
                order=order, amount_cents=order.total_cents, card_last4="4242",
                status="charged" if status == "confirmed" else "refunded",
                charge_ref=f"ch_legacy{number:08d}",
                refund_ref="" if status == "confirmed" else f"re_legacy{number:08d}",
            )
            held = status == "confirmed"
            Reservation.objects.create(
                reservation_id=f"legacy-order-{order.id}",
                status="confirmed" if held else "released", lines=lines if held else [],
            )

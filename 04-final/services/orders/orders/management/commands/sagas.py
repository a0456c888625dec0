from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from orders.models import PlaceOrderSaga
from orders.sagas.place_order import FINAL


class Command(BaseCommand):
    help = ("The place-order sagas not finished: each one's state, sends and how overdue its "
            "step is. --all shows finished ones too.")

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true")
        parser.add_argument("--stuck", action="store_true",
                            help="only sagas whose step is overdue (the sweeper will act)")
        parser.add_argument("--limit", type=int, default=50)

    def handle(self, *args, all, stuck, limit, **options):
        sagas = PlaceOrderSaga.objects.order_by("created_at")
        if not all:
            sagas = sagas.exclude(state__in=FINAL)
        now = timezone.now()
        if stuck:
            sagas = sagas.filter(step_deadline__lt=now)
        count = sagas.count()
        self.stdout.write(f"{count} saga(s){' not finished' if not all else ''}")
        self.stdout.write(f"{'order':>7}  {'state':<11} {'sends':>5}  {'age':>7}  "
                          f"{'overdue':>8}  reason")
        for saga in sagas[:limit]:
            age = (now - saga.created_at) / timedelta(seconds=1)
            overdue = (now - saga.step_deadline) / timedelta(seconds=1)
            late = f"{overdue:7.1f}s" if overdue > 0 and saga.state not in FINAL else "       -"
            self.stdout.write(f"{saga.order_id:>7}  {saga.state:<11} {saga.attempts:>5}  "
                              f"{age:6.1f}s  {late}  {saga.reason}")

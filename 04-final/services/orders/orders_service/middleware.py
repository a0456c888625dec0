from django.conf import settings

from orders.deadline import HEADER, Deadline

# Set by orders_service/wsgi.py: when waitress read the request (time.monotonic()).
ARRIVED = "orders.arrived"


def served_by(get_response):
    """Name the service on every response: behind a facade, you can tell who answered."""

    def middleware(request):
        response = get_response(request)
        response["X-Served-By"] = settings.SERVICE_NAME
        return response

    return middleware


def deadline(get_response):
    """Give every request its deadline (orders/deadline.py): request.deadline."""

    def middleware(request):
        request.deadline = Deadline.from_budget(request.headers.get(HEADER),
                                                request.META.get(ARRIVED))
        return get_response(request)

    return middleware

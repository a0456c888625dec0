import os
import time

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_service.settings")
django_application = get_wsgi_application()


def arrived(environ) -> float:
    """When the request reached us, on time.monotonic()'s clock.

    A request's budget starts when it arrives, not when a thread gets to it: with every thread
    busy (say, waiting on a frozen inventory), waitress queues requests, and the time spent in
    that queue is spent from the caller's budget too. Waitress does not tell when it read a
    request, but its connection object keeps the moment it last read (or wrote) bytes, which is
    no later than the request's arrival. Any other server: now.
    """
    channel = getattr(environ.get("waitress.client_disconnected"), "__self__", None)
    last = getattr(channel, "last_activity", None)
    now = time.monotonic()
    if not isinstance(last, float):
        return now
    return now - min(max(time.time() - last, 0.0), 60.0)


def application(environ, start_response):
    environ["orders.arrived"] = arrived(environ)
    return django_application(environ, start_response)

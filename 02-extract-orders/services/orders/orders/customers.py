"""Who is calling? The monolith still owns customers and their tokens, so this service asks it.

`Authorization: Token <key>` is checked by a gRPC call to the monolith's Customers service and
the answer is remembered for CUSTOMER_CACHE_SECONDS: most requests cost no round trip, and a
revoked token keeps working until its entry expires. That trade-off is the price of not owning
identity; stage 04 removes the call altogether with signed tokens (JWT) the service can check
by itself.
"""

import threading
import time
from dataclasses import dataclass

import grpc
from django.conf import settings
from rest_framework import authentication, exceptions

from orders import grpc_clients
from shopapi.customers.v1 import customers_pb2


@dataclass(frozen=True)
class Customer:
    """What DRF calls `request.user` here: the monolith's word for who holds the token."""

    id: int
    username: str
    email: str
    is_staff: bool = False
    is_authenticated: bool = True  # DRF's IsAuthenticated asks this


class IdentityUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "The shop cannot check who you are right now; please retry."
    default_code = "identity_unavailable"


_cache: dict[str, tuple[float, Customer]] = {}
_lock = threading.Lock()


def authenticate_token(key: str) -> Customer | None:
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit and hit[0] > now:
        return hit[1]
    stub = grpc_clients.customers(settings.MONOLITH_GRPC)
    try:
        reply = stub.Authenticate(customers_pb2.AuthenticateRequest(token=key),
                                  timeout=settings.INVENTORY_DEADLINE_SECONDS)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            return None
        raise IdentityUnavailable() from exc
    customer = Customer(reply.id, reply.username, reply.email, reply.is_staff)
    with _lock:
        _cache[key] = (now + settings.CUSTOMER_CACHE_SECONDS, customer)
    return customer


def forget_all() -> None:
    with _lock:
        _cache.clear()


class MonolithTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header.")
        try:
            key = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token header.") from exc
        customer = authenticate_token(key)
        if customer is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        return customer, key

    def authenticate_header(self, request):
        return self.keyword  # makes DRF answer 401 (not 403) to an anonymous caller

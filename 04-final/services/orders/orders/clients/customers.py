"""Who is calling? The monolith still owns customers and their tokens, so this service asks it.

`Authorization: Token <key>` is checked by a gRPC call to the monolith's Customers service and
the answer is kept in Django's cache for CUSTOMER_CACHE_SECONDS: most requests cost no round
trip, and a revoked token keeps working until its entry expires. That trade-off is the price of
not owning identity; stage 04 removes the call altogether with signed tokens (JWT) the service
can check by itself. MonolithTokenAuthentication is how DRF (api.py) uses this client.
"""

import hashlib
from dataclasses import dataclass

import grpc
from django.conf import settings
from django.core.cache import cache
from rest_framework import authentication, exceptions

from orders.clients import channels
from orders.deadline import Deadline, DeadlineExceeded
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
    # The contract's error shape for a gateway error: a machine code and a human sentence.
    default_detail = {"code": "identity_unavailable",
                      "detail": "The shop cannot check who you are right now; please retry."}
    default_code = "identity_unavailable"


class IdentityTimeout(exceptions.APIException):
    status_code = 504
    default_detail = {"code": "deadline_exceeded",
                      "detail": "The shop could not check who you are in time; nothing was done."}
    default_code = "deadline_exceeded"


def _cache_key(token: str) -> str:
    # Never the token itself as a key: a cache may be shared, listed or logged.
    return "customer:" + hashlib.sha256(token.encode()).hexdigest()


def authenticate_token(key: str, deadline: Deadline | None = None) -> Customer | None:
    customer = cache.get(_cache_key(key))
    if customer is not None:
        return customer
    step = settings.INVENTORY_DEADLINE_SECONDS
    try:
        reply = channels.customers().Authenticate(
            customers_pb2.AuthenticateRequest(token=key),
            timeout=step if deadline is None else deadline.timeout(step))
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            return None
        raise IdentityUnavailable() from exc
    except DeadlineExceeded as exc:
        raise IdentityTimeout() from exc
    customer = Customer(reply.id, reply.username, reply.email, reply.is_staff)
    cache.set(_cache_key(key), customer, settings.CUSTOMER_CACHE_SECONDS)
    return customer


def forget_all() -> None:
    cache.clear()


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
        customer = authenticate_token(key, getattr(request, "deadline", None))
        if customer is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        return customer, key

    def authenticate_header(self, request):
        return self.keyword  # makes DRF answer 401 (not 403) to an anonymous caller

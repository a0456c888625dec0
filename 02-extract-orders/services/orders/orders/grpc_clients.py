"""Channels to the monolith's gRPC server, one per process and target, reused by every call.

A grpc channel keeps its HTTP/2 connection open, multiplexes concurrent calls over it and
reconnects by itself: making one per request would pay a TCP (and later TLS) handshake each time.
"""

import functools

import grpc

from shopapi.customers.v1 import customers_pb2_grpc
from shopapi.inventory.v1 import inventory_pb2_grpc


@functools.cache
def channel(target: str) -> grpc.Channel:
    return grpc.insecure_channel(target)


def inventory(target: str) -> inventory_pb2_grpc.InventoryStub:
    return inventory_pb2_grpc.InventoryStub(channel(target))


def customers(target: str) -> customers_pb2_grpc.CustomersStub:
    return customers_pb2_grpc.CustomersStub(channel(target))

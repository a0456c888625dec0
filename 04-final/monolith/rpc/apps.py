from django.apps import AppConfig


class RpcConfig(AppConfig):
    """The monolith's gRPC door: inventory and customers, for the services split off from it."""

    name = "rpc"

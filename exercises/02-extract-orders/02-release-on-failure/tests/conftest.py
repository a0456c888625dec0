import pytest

from .prepared import prepared_monolith


@pytest.fixture(scope="session")
def monolith(tmp_path_factory):
    """The monolith's real gRPC server (inventory, customers), seeded, for the whole session
    (the stage's own fixture, with its database made once per `exercise verify`)."""
    server = prepared_monolith(tmp_path_factory.mktemp("monolith"))
    server.start()
    yield server
    server.stop()

"""The orders service: its own process, its own database, and gRPC to the monolith.

DATABASE_URL           this service's own database (default: var/orders.sqlite3; PostgreSQL in CI)
MONOLITH_DATABASE_URL  read once, by `copy_orders_from_monolith` (default: the monolith's file)
MONOLITH_GRPC          the monolith's gRPC address: inventory and customers (127.0.0.1:50051)
REQUEST_BUDGET_MS      a request's deadline budget when the caller sends none, and the most it
                       may ask for (X-Request-Budget-Ms; docs/api-contract.md)
REDIS_URL              the message broker (Celery on Redis); unset: the stage's embedded
                       redis-server (BROKER_URL, set by stage.toml), else 127.0.0.1:6379
DJANGO_DEBUG           "1" only in `workshop up`; off everywhere else
DJANGO_SECRET_KEY      required when DEBUG is off; never committed
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)
MONOLITH_DB = BASE_DIR.parent.parent / "monolith" / "var" / "db.sqlite3"
MONOLITH_DATABASE_URL = os.environ.get("MONOLITH_DATABASE_URL") or f"sqlite:///{MONOLITH_DB}"

SERVICE_NAME = "orders"

DEBUG = os.environ.get("DJANGO_DEBUG", "0").lower() in {"1", "true", "yes", "on"}
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. `python3 -m workshop up` sets one for you; "
            "elsewhere export DJANGO_SECRET_KEY or DJANGO_DEBUG=1 for development."
        )
    SECRET_KEY = "insecure-development-key-only-used-when-debug-is-on"
ALLOWED_HOSTS = os.environ.get(
    "DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver"
).split(",")

INSTALLED_APPS = [
    # No users, sessions or admin here: customers belong to the monolith, which vouches for a
    # token over gRPC (orders/clients/customers.py). This service stores a customer's id only.
    "django.contrib.contenttypes",
    "rest_framework",
    "drf_spectacular",
    "orders",
    "payments",
    "notifications",
    "monolith_import",
]

MIDDLEWARE = [
    "orders_service.middleware.served_by",
    "orders_service.api_contract.json_errors_under_api",
    "orders_service.middleware.deadline",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "orders_service.urls"
WSGI_APPLICATION = "orders_service.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'orders.sqlite3'}",
        conn_max_age=60,
    ),
    # Read by one command only, copy_orders_from_monolith: after the move, nothing here
    # touches the monolith's database (and the monolith does not touch ours).
    "monolith": dj_database_url.parse(MONOLITH_DATABASE_URL),
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several threads (and, from stage 01 on, processes) write this file. IMMEDIATE takes the
    # write lock when a transaction starts, so writers queue (up to `timeout` s) instead of
    # failing with "database is locked" halfway through; PostgreSQL needs none of this.
    # WAL with synchronous=NORMAL: a commit appends to the log instead of syncing the disk, and
    # readers never wait for a writer. A commit survives a crash of the process.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE", "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
# The order-history read model's own store (orders/projections/order_history.py): a separate
# SQLite file, whatever the orders database is; it can be deleted and rebuilt from the outbox.
# Beside the orders database's file when it is SQLite (a throwaway database gets a throwaway
# read model), else in var/ under the database's name.
ORDER_HISTORY_DB = os.environ.get("ORDER_HISTORY_DB") or (
    str(Path(DATABASES["default"]["NAME"]).with_suffix(".order_history.sqlite3"))
    if DATABASES["default"]["ENGINE"].endswith("sqlite3")
    else str(VAR_DIR / f"order_history-{DATABASES['default']['NAME']}.sqlite3"))
# The event-sourced payment ledger's own event store (payments/ledger.py, eventsourcing 9.5).
PAYMENT_LEDGER_DB = os.environ.get("PAYMENT_LEDGER_DB") or str(VAR_DIR / "payment_ledger.sqlite3")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = "shop@workshop.example"

# The fake provider "times out" by not answering within this many seconds.
PAYMENT_TIMEOUT_SECONDS = float(os.environ.get("PAYMENT_TIMEOUT_SECONDS", "1.0"))

# Every request has a deadline (orders/deadline.py): the caller's X-Request-Budget-Ms, at most
# REQUEST_BUDGET_MS (also the budget of a caller that sends none). Each step gets its own
# timeout within it, and COMPENSATION_MS is kept back so that undoing (release the units,
# refund the card) still fits before the deadline. Past it nothing new is committed.
REQUEST_BUDGET_MS = int(os.environ.get("REQUEST_BUDGET_MS", "8000"))
COMPENSATION_MS = int(os.environ.get("COMPENSATION_MS", "1000"))

# The monolith over gRPC. Each call waits at most INVENTORY_DEADLINE_SECONDS (and never past the
# request's deadline); a call that finds the monolith unavailable is retried by gRPC itself, up
# to GRPC_ATTEMPTS tries in all (every call to it is idempotent: clients/channels.py).
MONOLITH_GRPC = os.environ.get("MONOLITH_GRPC", "127.0.0.1:50051")
INVENTORY_DEADLINE_SECONDS = float(os.environ.get("INVENTORY_DEADLINE_SECONDS", "2.0"))
GRPC_ATTEMPTS = int(os.environ.get("GRPC_ATTEMPTS", "3"))
# A reservation stays pending (its units held) this long unless the order confirms it; the
# inventory then gives it back. It must outlast a request's budget plus the sweeper's delay.
RESERVATION_HOLD_SECONDS = float(os.environ.get("RESERVATION_HOLD_SECONDS", "60"))
# The sweeper (`manage.py sweep`, a process of the stage) runs every SWEEP_SECONDS: it delivers
# stranded releases, and settles orders left PENDING by a crash once their request's deadline
# has surely passed (REQUEST_BUDGET_MS + SETTLE_MARGIN_SECONDS after they were recorded).
SWEEP_SECONDS = float(os.environ.get("SWEEP_SECONDS", "1.0"))
SETTLE_MARGIN_SECONDS = float(os.environ.get("SETTLE_MARGIN_SECONDS", "2.0"))
# Idempotency keys are kept this long (the contract promises at least 24 h).
IDEMPOTENCY_KEY_HOURS = float(os.environ.get("IDEMPOTENCY_KEY_HOURS", "48"))

# Stage 03: placing an order is a saga over messages (orders/sagas/place_order.py), carried by a
# transactional outbox (orders/events/outbox.py), a relay (orders/events/relay.py) and Celery on
# Redis (orders_service/celery.py). REDIS_URL picks a real server; `workshop up` sets BROKER_URL to
# the stage's own embedded redis-server (broker/), so a laptop needs no Redis installed.
REDIS_URL = (os.environ.get("REDIS_URL") or os.environ.get("BROKER_URL")
             or "redis://127.0.0.1:6379/0")
# The message contracts: one JSON Schema per message type and version, checked on publish and on
# consume (orders/events/contracts.py).
CONTRACTS_DIR = Path(os.environ.get("CONTRACTS_DIR")
                     or BASE_DIR.parent.parent / "contracts" / "events")
# The relay wakes on a doorbell (a Redis PUBLISH after each commit that wrote the outbox) and
# polls every RELAY_POLL_SECONDS anyway: a lost doorbell delays a message, never loses it.
RELAY_POLL_SECONDS = float(os.environ.get("RELAY_POLL_SECONDS", "0.5"))
RELAY_BATCH = int(os.environ.get("RELAY_BATCH", "200"))
# Each saga step must be answered within SAGA_STEP_SECONDS, or the sweeper sends it again (its
# message lost with a broker restart, its worker killed), allowing twice as long after each send
# (up to 8x). A participant that never answers is the consumer's to report, after its retries:
# the saga then compensates a reserve or a charge, and sends a confirm or an undo again.
SAGA_STEP_SECONDS = float(os.environ.get("SAGA_STEP_SECONDS", "5"))
# Transient failures (the inventory unreachable) are retried by Celery with exponential backoff
# and jitter, CONSUMER_MAX_RETRIES times; then a saga step is the saga's to settle, and any
# other message becomes a dead letter.
CONSUMER_MAX_RETRIES = int(os.environ.get("CONSUMER_MAX_RETRIES", "5"))
CONSUMER_BACKOFF_MAX = int(os.environ.get("CONSUMER_BACKOFF_MAX", "8"))

# How long a token's owner is remembered (Django's cache): the price of not asking the monolith
# every request is that a revoked token keeps working for up to this long.
CUSTOMER_CACHE_SECONDS = float(os.environ.get("CUSTOMER_CACHE_SECONDS", "30"))
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                      "LOCATION": "orders-service"}}

# Stage 04: the provider's published keys, and what every access token must say.
IDENTITY_JWKS_URL = os.environ.get("IDENTITY_JWKS_URL",
                                   "http://127.0.0.1:8000/o/.well-known/jwks.json")
OIDC_ISSUER = os.environ.get("OIDC_ISSUER") or "http://127.0.0.1:8080/o"
OIDC_ACCESS_TOKEN_AUDIENCE = "shop"
JWKS_REFRESH_COOLDOWN_SECONDS = float(os.environ.get("JWKS_REFRESH_COOLDOWN_SECONDS", "30"))

REST_FRAMEWORK = {
    # Its WWW-Authenticate header is what makes DRF answer 401 rather than 403.
    # Stage 04: a Bearer JWT is checked here alone (orders/clients/bearer.py); the legacy Token
    # still costs a gRPC call to the monolith (cached).
    "DEFAULT_AUTHENTICATION_CLASSES": ["orders.clients.customers.MonolithTokenAuthentication",
                                       "orders.clients.bearer.BearerJwtAuthentication"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "orders_service.api_contract.StrictPageNumberPagination",
    "PAGE_SIZE": 10,
    # JSON in, JSON out: the schema must not offer form bodies the API cannot read.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "orders_service.api_schema.ContractAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Workshop shop API: orders service",
    "DESCRIPTION": "The contract every stage keeps (docs/api-contract.md).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request and response bodies as separate components: a request's fields then carry what
    # the API enforces on input (minLength 1 for a required string, no read-only fields).
    "COMPONENT_SPLIT_REQUEST": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.request": {"level": "ERROR"}},
}

"""The orders service: its own process, its own database, and gRPC to the monolith.

DATABASE_URL           this service's own database (default: var/orders.sqlite3; PostgreSQL in CI)
MONOLITH_DATABASE_URL  read once, by `copy_orders_from_monolith` (default: the monolith's file)
MONOLITH_GRPC          the monolith's gRPC address: inventory and customers (127.0.0.1:50051)
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
    # token over gRPC (orders/customers.py). This service stores a customer's id, nothing more.
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
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = "shop@workshop.example"

# The fake provider "times out" by not answering within this many seconds.
PAYMENT_TIMEOUT_SECONDS = float(os.environ.get("PAYMENT_TIMEOUT_SECONDS", "1.0"))

# The monolith over gRPC. Every call has a deadline: a slow inventory costs an order a bounded
# wait, then a clear 504, never a hung worker. Releases retry (they are idempotent).
MONOLITH_GRPC = os.environ.get("MONOLITH_GRPC", "127.0.0.1:50051")
INVENTORY_DEADLINE_SECONDS = float(os.environ.get("INVENTORY_DEADLINE_SECONDS", "2.0"))
RELEASE_ATTEMPTS = int(os.environ.get("RELEASE_ATTEMPTS", "3"))
# How long a token's owner is remembered: the price of not asking the monolith every request
# is that a revoked token keeps working for up to this long.
CUSTOMER_CACHE_SECONDS = float(os.environ.get("CUSTOMER_CACHE_SECONDS", "30"))

REST_FRAMEWORK = {
    # Its WWW-Authenticate header is what makes DRF answer 401 rather than 403.
    "DEFAULT_AUTHENTICATION_CLASSES": ["orders.customers.MonolithTokenAuthentication"],
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

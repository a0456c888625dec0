"""Settings come from the environment, so the same code runs on a laptop, in tests and in CI.

DATABASE_URL       default: a SQLite file in var/ (PostgreSQL in CI: postgres://...)
ORDERS_URL         the orders service's HTTP API (default http://127.0.0.1:8001)
ORDERS_GRPC        the orders service's gRPC address (default 127.0.0.1:50052)
RESERVATION_HOLD_SECONDS, RESERVATION_SWEEP_SECONDS  how long an unconfirmed reservation holds
                   its units (60), and how often the sweeper gives back expired ones (1)
DJANGO_DEBUG       "1" only in `workshop up`; off everywhere else
DJANGO_SECRET_KEY  required when DEBUG is off; never committed
OIDC_ISSUER        the issuer every token names: the shop's public address + /o (the gateway's)
OIDC_KEYS_DIR      where the signing keys are made at first start (default var/keys/)
REVOCATION_REDIS_URL  where revoked tokens are announced to the gateway (default: REDIS_URL,
                   else BROKER_URL, else none)
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from identity import keys as identity_keys

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
(VAR_DIR / "static").mkdir(parents=True, exist_ok=True)  # whitenoise warns without it

SERVICE_NAME = "monolith"

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
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "oauth2_provider",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # the bounded contexts
    "catalog",
    "inventory",
    "customers",
    # Legacy since stage 02: the orders service owns orders and payments. These models stay
    # read-only until `copy_orders_from_monolith` has moved their rows (then drop them).
    "orders",
    "payments",
    "storefront",
    "rpc",
    # Stage 04: the OAuth2 / OpenID Connect provider. It lives here because the monolith owns the
    # users and their passwords; moving it out is the next extraction (README, "What is left").
    "identity",
]

MIDDLEWARE = [
    "shop.middleware.served_by",
    "shop.api_contract.json_errors_under_api",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "storefront.context.shop",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several threads (and, from stage 01 on, processes) write this file. IMMEDIATE takes the
    # write lock when a transaction starts, so writers queue (up to `timeout` s) instead of
    # failing with "database is locked" halfway through; PostgreSQL needs none of this.
    # WAL with synchronous=NORMAL: a commit appends to the log instead of syncing the disk
    # (~20 ms on a busy laptop disk, the bulk of a gRPC reserve), and readers never wait for
    # a writer. A commit survives a crash of the process; only a power cut can lose the last ones.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE", "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Serve app static files (admin, Swagger UI) straight from the apps: no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/orders/"
LOGOUT_REDIRECT_URL = "/"

# The orders service, over both of its doors: HTTP for placing and cancelling (the same API
# customers use, pinned by a pact), gRPC for reading the history. Every call has a deadline:
# a slow dependency must cost the page a bounded wait, never a hung thread.
ORDERS_URL = os.environ.get("ORDERS_URL", "http://127.0.0.1:8001")
ORDERS_GRPC = os.environ.get("ORDERS_GRPC", "127.0.0.1:50052")
ORDERS_TIMEOUT_SECONDS = float(os.environ.get("ORDERS_TIMEOUT_SECONDS", "5.0"))
ORDERS_GRPC_DEADLINE_SECONDS = float(os.environ.get("ORDERS_GRPC_DEADLINE_SECONDS", "1.0"))

# Reservations are PENDING until their caller confirms them; an unconfirmed one is given back
# after its hold (the caller may ask for another in its Reserve call). The sweeper in the gRPC
# server's process (`serve_grpc`) looks for expired ones every RESERVATION_SWEEP_SECONDS.
RESERVATION_HOLD_SECONDS = float(os.environ.get("RESERVATION_HOLD_SECONDS", "60"))
RESERVATION_SWEEP_SECONDS = float(os.environ.get("RESERVATION_SWEEP_SECONDS", "1.0"))

# -- Identity: the OAuth2 / OpenID Connect provider (stage 04) ---------------------------------
# Served under /o/. Access tokens are JWTs signed RS256 with the current key and its `kid`
# (identity/tokens.py); the JWKS publishes the next key too, so a rotation needs no refetch.
OIDC_ISSUER = os.environ.get("OIDC_ISSUER") or "http://127.0.0.1:8080/o"
OIDC_ACCESS_TOKEN_AUDIENCE = "shop"
OIDC_KEYS_DIR = Path(os.environ.get("OIDC_KEYS_DIR") or VAR_DIR / "keys")
OIDC_KEYS = identity_keys.ensure(OIDC_KEYS_DIR)
OIDC_SIGNING_KID = identity_keys.kid(OIDC_KEYS.current)
REVOCATION_REDIS_URL = (os.environ.get("REVOCATION_REDIS_URL") or os.environ.get("REDIS_URL")
                        or os.environ.get("BROKER_URL") or "")
# The storefront's redirect after login (a public client: code + PKCE, no secret).
OAUTH_STOREFRONT_REDIRECT_URIS = os.environ.get(
    "OAUTH_STOREFRONT_REDIRECT_URIS", OIDC_ISSUER.rsplit("/o", 1)[0] + "/oauth/callback").split()
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": OIDC_ISSUER,
    "OIDC_RSA_PRIVATE_KEY": OIDC_KEYS.current,
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": OIDC_KEYS.inactive,
    "OAUTH2_VALIDATOR_CLASS": "identity.validators.ShopValidator",
    "ACCESS_TOKEN_GENERATOR": "identity.tokens.signed_access_token",
    # Refresh tokens stay opaque and one-time: only the provider ever reads them.
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
    "ROTATE_REFRESH_TOKEN": True,
    # Short-lived: a verifier that never asks the provider learns of a revocation from Redis,
    # and if that message is lost the token dies on its own within five minutes.
    "ACCESS_TOKEN_EXPIRE_SECONDS": 300,
    "PKCE_REQUIRED": True,
    # Only each token's SHA-256 is stored: a leaked database holds no usable token.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "SCOPES": {
        "openid": "Sign you in (OpenID Connect)",
        "profile": "Your user name",
        "email": "Your e-mail address",
        "shop": "Place, see and cancel your orders",
        "stock": "Read and set stock (staff and services)",
    },
    "DEFAULT_SCOPES": ["shop"],
}

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header is what makes DRF answer 401 rather than 403.
    # Bearer (a JWT from /o/ or the login API) is checked against the provider's own table, so
    # a revoked token is refused here at once.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "oauth2_provider.contrib.rest_framework.OAuth2Authentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "shop.api_contract.StrictPageNumberPagination",
    "PAGE_SIZE": 10,
    # JSON in, JSON out: the schema must not offer form bodies the API cannot read.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "shop.api_schema.ContractAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Workshop shop API",
    "DESCRIPTION": "The contract every stage keeps (docs/api-contract.md).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request and response bodies as separate components: a request's fields then carry what
    # the API enforces on input (minLength 1 for a required string, no read-only fields).
    "COMPONENT_SPLIT_REQUEST": True,
    # The orders API lives in the orders service now: its schema is stitched into ours, so the
    # docs still describe the whole shop behind the front door.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "shop.schema.include_orders_service",
    ],
    # Swagger UI from the sidecar package: the docs work offline, with no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.request": {"level": "ERROR"}},
}

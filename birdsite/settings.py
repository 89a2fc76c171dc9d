"""birdsite settings: everything that differs between machines comes from the environment.

Embedded defaults run the site on one machine (SQLite, local media files, local-memory cache);
`DATABASE_URL`, `AWS_STORAGE_BUCKET_NAME` and `REDIS_URL` switch on PostgreSQL, S3 and Redis.
Production defaults are safe: without `DJANGO_DEBUG=1` the site wants a real secret key and HTTPS.
"""

from __future__ import annotations

import os
from pathlib import Path

import botocore.config
import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from ml.config import data_dir, models_dir, shared_data_dir
from ml.runtimes import requested as requested_runtime


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


# --- Paths -------------------------------------------------------------------------------------
BASE_DIR = Path(__file__).resolve().parent.parent
# Build outputs (database file, media, backbone, features, models) live here; gitignored.
DATA_DIR = data_dir()  # BIRDSITE_DATA_DIR; one owner for the site and the pipeline
MODELS_DIR = models_dir()
# The serving engine: auto (the fastest that agreed with LiteRT on this host) or one named.
MODEL_RUNTIME = requested_runtime()  # BIRDSITE_RUNTIME (ml.runtimes)

# --- Core --------------------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for development).")
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

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
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "core",
    "accounts",
    "classifier",
]

MIDDLEWARE = [
    "core.logging.RequestLogMiddleware",
    # Right inside the request log (which touches no database), so the log shows its 503s.
    "core.outages.OutageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.headers.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "birdsite.urls"
WSGI_APPLICATION = "birdsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL:
    DATA_DIR.mkdir(parents=True, exist_ok=True)  # the embedded SQLite file lives in the data dir
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL or f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # Not Django's `SELECT 1` per request: core.db_connections drops connections the
        # server closed by looking at the socket, without a round trip.
        conn_health_checks=False,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (shared across workers when REDIS_URL is set: throttles and rate limits) ------------
REDIS_URL = os.environ.get("REDIS_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "birdsite"}
    )
}

# --- Accounts ----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed log-in and sign-up attempts allowed per client address and window (seconds).
LOGIN_RATE_LIMIT = env_int("BIRDSITE_LOGIN_RATE_LIMIT", 5)
SIGNUP_RATE_LIMIT = env_int("BIRDSITE_SIGNUP_RATE_LIMIT", 10)
RATE_LIMIT_WINDOW = env_int("BIRDSITE_RATE_LIMIT_WINDOW", 300)
# How many proxies in front of Django append to X-Forwarded-For (1 behind our Nginx; 0 direct).
TRUSTED_PROXY_HOPS = env_int("BIRDSITE_TRUSTED_PROXY_HOPS", 0)

# --- Email (console by default, SMTP when EMAIL_HOST is set) -----------------------------------
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "birdsite <noreply@localhost>")

# --- Internationalisation ----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files (whitenoise) and media (local files or S3) -----------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
# Front-end packages come from npm (package.json; scripts/setup and the Dockerfile install them),
# served from our own static files under their own prefix: no CDN.
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/cropperjs", NODE_MODULES / "cropperjs" / "dist"),
    ("vendor/leaflet", NODE_MODULES / "leaflet" / "dist"),
]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT") or DATA_DIR / "media")

AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
USE_S3 = bool(AWS_STORAGE_BUCKET_NAME)
STATICFILES_BACKEND = os.environ.get(
    "DJANGO_STATICFILES_STORAGE", "whitenoise.storage.CompressedManifestStaticFilesStorage"
)


def s3_storage(*, bucket_name: str, endpoint_url: str | None = None, **credentials) -> dict:
    """django-storages S3 settings: a private bucket served through presigned URLs."""
    return {
        "BACKEND": "core.storage.SharedModelS3Storage",
        "OPTIONS": {
            "bucket_name": bucket_name,
            "endpoint_url": endpoint_url,
            **credentials,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 300),
            "file_overwrite": False,
            # Fail fast when S3 is unreachable: a clear 503 beats a hung worker.
            "client_config": botocore.config.Config(
                signature_version="s3v4",
                s3={"addressing_style": os.environ.get("AWS_S3_ADDRESSING_STYLE") or "path"},
                connect_timeout=env_int("AWS_S3_CONNECT_TIMEOUT", 3),
                read_timeout=env_int("AWS_S3_READ_TIMEOUT", 20),
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        },
    }


STORAGES = {
    "default": (
        s3_storage(
            bucket_name=AWS_STORAGE_BUCKET_NAME,
            endpoint_url=os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            region_name=os.environ.get("AWS_S3_REGION_NAME") or None,
            access_key=os.environ.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
        )
        if USE_S3
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {"BACKEND": STATICFILES_BACKEND},
}
# Where web workers get the served model: `local` (embedded default, one machine) reads the
# `MODELS_DIR/active` link; `s3` (several hosts) serves the version of the latest ModelPromotion,
# fetched from the model bucket (the photo bucket unless BIRDSITE_MODEL_BUCKET names another) into
# MODELS_DIR and checked against its manifest (classifier.model_store).
MODEL_STORE = os.environ.get("BIRDSITE_MODEL_STORE", "").strip().lower() or "local"
if MODEL_STORE not in {"local", "s3"}:
    raise ImproperlyConfigured(f"BIRDSITE_MODEL_STORE is local or s3, not {MODEL_STORE!r}.")
if MODEL_STORE == "s3" and not USE_S3:
    raise ImproperlyConfigured("BIRDSITE_MODEL_STORE=s3 needs S3: set AWS_STORAGE_BUCKET_NAME.")
MODEL_BUCKET = os.environ.get("BIRDSITE_MODEL_BUCKET") or AWS_STORAGE_BUCKET_NAME
# The model bucket's endpoint when it is not the photos' (AWS_S3_ENDPOINT_URL); same credentials.
MODEL_S3_ENDPOINT_URL = os.environ.get("BIRDSITE_MODEL_S3_ENDPOINT_URL", "")
# Largest upload accepted (bytes), and largest photo in pixels decoded.
MAX_UPLOAD_BYTES = env_int("BIRDSITE_MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
MAX_IMAGE_PIXELS = env_int("BIRDSITE_MAX_IMAGE_PIXELS", 40_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES + 1024 * 1024
# Abandoned photos in the identify -> save area are removed after this many hours.
PENDING_PHOTO_MAX_AGE_HOURS = env_int("BIRDSITE_PENDING_PHOTO_MAX_AGE_HOURS", 24)
# The folders (comma-separated) `retrain` judges a retrained model on against the active one:
# neither may train on them, so the default model holds them out (setup_classifier).
RETRAIN_HELD_OUT = [
    Path(p).expanduser()
    for p in env_list("BIRDSITE_RETRAIN_HELD_OUT", str(shared_data_dir() / "field" / "valid"))
]

# --- Security (production defaults; DJANGO_DEBUG=1 relaxes them for development) ---------------
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Load-balancer probes may speak plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Content-Security-Policy (django-csp): scripts, styles and images from the site itself only (no
# inline code); `blob:` images are the photo preview before upload; the photo storage's origin is
# added per answer (core.headers). BIRDSITE_CSP_REPORT_ONLY=1 sends the policy as
# Content-Security-Policy-Report-Only (for rolling it out), reported to BIRDSITE_CSP_REPORT_URI.
SECURITY_POLICY_DIRECTIVES = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "blob:"],
    "object-src": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
}
if os.environ.get("BIRDSITE_CSP_REPORT_URI"):
    SECURITY_POLICY_DIRECTIVES["report-uri"] = [os.environ["BIRDSITE_CSP_REPORT_URI"]]
SECURITY_POLICY_REPORT_ONLY = env_bool("BIRDSITE_CSP_REPORT_ONLY", False)
CONTENT_SECURITY_POLICY = (
    None if SECURITY_POLICY_REPORT_ONLY else {"DIRECTIVES": SECURITY_POLICY_DIRECTIVES}
)
CONTENT_SECURITY_POLICY_REPORT_ONLY = (
    {"DIRECTIVES": SECURITY_POLICY_DIRECTIVES} if SECURITY_POLICY_REPORT_ONLY else None
)
# Map tiles (Leaflet, classifier/templatetags/birdsite.py): a tile URL template, OpenStreetMap's
# tile server by default; empty: maps without tiles (markers and popups still work). Its origin is
# added to `img-src` only when set (core.headers). The attribution is HTML shown on every map.
BIRDSITE_MAP_TILES = os.environ.get(
    "BIRDSITE_MAP_TILES", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
)
BIRDSITE_MAP_ATTRIBUTION = os.environ.get(
    "BIRDSITE_MAP_ATTRIBUTION",
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
)
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    # Behind Nginx/ALB, which terminates TLS and sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

# --- REST API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "predict_anon": os.environ.get("BIRDSITE_PREDICT_ANON_RATE", "20/min"),
        "predict_user": os.environ.get("BIRDSITE_PREDICT_USER_RATE", "120/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "birdsite API",
    "DESCRIPTION": "Identify bird species in photos and keep a log of sightings.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge from the public validator: the docs pages load nothing from other sites.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- Logging: one JSON object a line on stdout -------------------------------------------------
LOG_LEVEL = os.environ.get("DJANGO_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "core.logging.RequestContextFilter"}},
    "formatters": {"json": {"()": "core.logging.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["request_context"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        # Our request log replaces Django's own access-style lines.
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}

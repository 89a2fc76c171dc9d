"""Settings for the test suite: the real settings with test-friendly environment defaults."""

import os

os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
# Browser tests talk plain HTTP to a live server on 127.0.0.1.
os.environ.setdefault("DJANGO_SESSION_COOKIE_SECURE", "0")
os.environ.setdefault("DJANGO_CSRF_COOKIE_SECURE", "0")
os.environ.setdefault(
    "DJANGO_STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage"
)
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
# LiteRT, unless a test asks for `auto`: otherwise every process that serves a model would start
# a background runtime check (tests/serving/test_runtime_choice.py tests that path).
os.environ.setdefault("BIRDSITE_RUNTIME", "litert")
# Maps without tiles: the tests load nothing from other sites (the header tests turn them on).
os.environ.setdefault("BIRDSITE_MAP_TILES", "")

from birdsite.settings import *  # noqa: F403

# Fast hashing: the suite creates many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Serve static files from the app folders: no collectstatic before the tests.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

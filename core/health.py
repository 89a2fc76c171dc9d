"""Load-balancer probes: `/healthz` (the process answers) and `/readyz` (it can serve).

Both are plain Django views (no session, no auth) that answer JSON. They are exempt from the SSL
redirect (`SECURE_REDIRECT_EXEMPT`) so an internal load balancer can probe over HTTP.

`/readyz` runs the database and storage checks of this module and the checks other apps
register from their `AppConfig.ready()` (`register_check`), so core knows no app of the site.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger("birdsite.health")

# A readiness check returns a short detail ("ok", "ok: <version>"), or a dict of fields for its
# entry (a "detail" among them), or raises when not ready.
ReadinessCheck = Callable[[], str | dict[str, str | bool]]


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _storage() -> str:
    bucket = getattr(default_storage, "bucket", None)
    if bucket is not None:  # S3: the bucket exists and our credentials reach it (one HEAD)
        bucket.meta.client.head_bucket(Bucket=bucket.name)
    else:
        default_storage.exists(f"readyz/{uuid.uuid4().hex}")
    return "ok"


CHECKS: dict[str, ReadinessCheck] = {"database": _database, "storage": _storage}


def register_check(*, name: str, check: ReadinessCheck) -> None:
    """Make `/readyz` run `check` under `name`; a name belongs to one check only."""
    registered = CHECKS.setdefault(name, check)
    if registered is not check:
        raise ValueError(f"the readiness check {name!r} is already registered")


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: no database or storage call, so a database outage does not restart workers."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every check passes, else 503; the body says which failed.

    Checks are reported in name order, whatever order the apps registered them in.
    """
    results: dict[str, dict[str, str | bool]] = {}
    for name, check in sorted(CHECKS.items()):
        try:
            answer = check()
            results[name] = {
                "ok": True,
                **(answer if isinstance(answer, dict) else {"detail": answer}),
            }
        except Exception as error:  # any failure means "not ready", never a 500
            # The reason goes to the log only: the probe may be reachable from outside.
            logger.warning("readiness check %s failed: %r", name, error)
            results[name] = {"ok": False, "detail": type(error).__name__}
    ready = all(result["ok"] for result in results.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )

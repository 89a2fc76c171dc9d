"""A fixed-window attempt counter in the shared cache, so limits hold across web workers."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The client's address as our own proxies saw it.

    A client can put anything in X-Forwarded-For; each trusted proxy (Nginx, a load balancer)
    appends the address it saw, so the client is the entry `TRUSTED_PROXY_HOPS` from the right.
    """
    hops = settings.TRUSTED_PROXY_HOPS
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [hop for hop in forwarded if hop]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "unknown")


def _key(*, scope: str, identity: str) -> str:
    return f"ratelimit:{scope}:{identity}"


def is_limited(*, scope: str, identity: str, limit: int) -> bool:
    """True once `identity` used up its `limit` attempts in the current window."""
    return (cache.get(_key(scope=scope, identity=identity)) or 0) >= limit


def record_attempt(*, scope: str, identity: str, window_seconds: int) -> int:
    """Count one attempt; the window starts at the first attempt."""
    key = _key(scope=scope, identity=identity)
    if cache.add(key, 1, timeout=window_seconds):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window_seconds)
        return 1

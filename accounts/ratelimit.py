"""Fixed-window attempt counters in the shared cache, so limits hold across web workers.

One owner for every counted limit: the log-in and sign-up limits (accounts.services) and the
API's predict throttles (classifier.api.throttles). On Redis a count is one round trip (INCR,
EXPIRE NX and TTL in one MULTI), atomic across workers; on the local-memory cache of a single
process it is plain add/incr.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
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


@dataclass(frozen=True)
class Attempts:
    """The count in the current window, this attempt included, and the seconds it has left."""

    count: int
    seconds_left: int


def _key(*, scope: str, identity: str) -> str:
    return f"ratelimit:{scope}:{identity}"


def attempts_so_far(*, scope: str, identity: str) -> int:
    """Attempts counted in the current window (0 when none or the window is over)."""
    return cache.get(_key(scope=scope, identity=identity)) or 0


def is_limited(*, scope: str, identity: str, limit: int) -> bool:
    """True once `identity` used up its `limit` attempts in the current window."""
    return attempts_so_far(scope=scope, identity=identity) >= limit


def record_attempt(*, scope: str, identity: str, window_seconds: int) -> Attempts:
    """Count one attempt; the window starts at the first attempt."""
    key = _key(scope=scope, identity=identity)
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _record_on_redis(backend, key, window_seconds)
    if cache.add(key, 1, timeout=window_seconds):
        return Attempts(count=1, seconds_left=window_seconds)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window_seconds)
        count = 1
    # The local-memory cache does not tell a key's time left: the whole window is the bound.
    return Attempts(count=count, seconds_left=window_seconds)


def _record_on_redis(backend: RedisCache, key: str, window_seconds: int) -> Attempts:
    """INCR, EXPIRE NX (the window starts at the first attempt) and TTL in one round trip.

    Django's cache API has no atomic "add or increment, and say the time left", so this uses
    the cache's own Redis client and key format (integers are stored as plain Redis integers,
    which `cache.get` reads back)."""
    full_key = backend.make_and_validate_key(key)
    client = backend._cache.get_client(full_key, write=True)
    with client.pipeline(transaction=True) as pipe:
        pipe.incr(full_key).expire(full_key, window_seconds, nx=True).ttl(full_key)
        count, _, ttl = pipe.execute()
    return Attempts(count=int(count), seconds_left=max(1, int(ttl)))

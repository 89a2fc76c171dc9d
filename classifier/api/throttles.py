"""Predict throttles: anonymous callers by address, signed-in callers by account (higher rate).

Counts live in Django's default cache (Redis when REDIS_URL is set), so limits hold across
workers: a fixed window counted by `accounts.ratelimit` in one round trip, where DRF's own
throttles keep a list of timestamps (read, trimmed and written back: two round trips, and a
list as long as the rate). Rates are read from settings on every request, so they can be
changed per environment (and per test) without re-importing DRF.
"""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from accounts.ratelimit import client_address, record_attempt


class CountedRateThrottle(SimpleRateThrottle):
    """`num_requests` per window of `duration` seconds for each identity."""

    scope: str

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def identity(self, request: Request) -> str | None:
        """Who is counted; None: this throttle does not apply to the request."""
        raise NotImplementedError

    def allow_request(self, request: Request, view) -> bool:
        identity = self.identity(request)
        if self.rate is None or identity is None:
            return True
        attempts = record_attempt(
            scope=f"throttle_{self.scope}", identity=identity, window_seconds=self.duration
        )
        self.seconds_left = attempts.seconds_left
        return attempts.count <= self.num_requests

    def wait(self) -> float:
        return self.seconds_left


class PredictAnonThrottle(CountedRateThrottle):
    scope = "predict_anon"

    def identity(self, request: Request) -> str | None:
        """The same client address the site's log-in limits use; signed-in callers are
        counted by PredictUserThrottle."""
        return None if request.user.is_authenticated else client_address(request)


class PredictUserThrottle(CountedRateThrottle):
    scope = "predict_user"

    def identity(self, request: Request) -> str | None:
        return str(request.user.pk) if request.user.is_authenticated else None

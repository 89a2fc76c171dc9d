"""Predict throttles: anonymous callers by address, signed-in callers by account (higher rate).

Counts live in Django's default cache (Redis when REDIS_URL is set), so limits hold across
workers. Rates are read from settings on every request, so they can be changed per environment
(and per test) without re-importing DRF.
"""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from accounts.ratelimit import client_address


class SettingsRateMixin:
    scope: str

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request: Request) -> str:
        """The same client address the site's log-in limits use."""
        return client_address(request)


class PredictAnonThrottle(SettingsRateMixin, AnonRateThrottle):
    scope = "predict_anon"


class PredictUserThrottle(SettingsRateMixin, UserRateThrottle):
    scope = "predict_user"

    def get_cache_key(self, request: Request, view) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None  # anonymous callers are counted by PredictAnonThrottle
        return super().get_cache_key(request, view)

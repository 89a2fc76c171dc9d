from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts.forms import DeleteAccountForm, SignUpForm, TrainingConsentForm
from accounts.ratelimit import client_address
from accounts.services import (
    TooManyAttempts,
    check_login_allowed,
    count_signup_attempt,
    delete_account,
    record_failed_login,
    set_training_consent,
)


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def _too_many_attempts(request: HttpRequest, template: str, form) -> HttpResponse:
    form.add_error(None, TooManyAttempts.message)
    return render(request, template, {"form": form, "next": _safe_next(request)}, status=429)


class LoginView(auth_views.LoginView):
    """Django's log-in, with failed attempts limited per client address (accounts.services)."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            check_login_allowed(client=client_address(request))
        except TooManyAttempts:
            return _too_many_attempts(request, self.template_name, self.get_form())
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form) -> HttpResponse:
        record_failed_login(client=client_address(self.request))
        return super().form_invalid(form)


@require_http_methods(["GET", "HEAD", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    template = "accounts/signup.html"
    if request.user.is_authenticated:
        return redirect(_safe_next(request) or settings.LOGIN_REDIRECT_URL)
    if request.method == "POST":
        try:
            count_signup_attempt(client=client_address(request))
        except TooManyAttempts:
            return _too_many_attempts(request, template, SignUpForm(request.POST))
        form = SignUpForm(request.POST)
        if form.is_valid():
            user = form.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to birdsite, {user.username}!")
            return redirect(_safe_next(request) or settings.LOGIN_REDIRECT_URL)
    else:
        form = SignUpForm()
    return render(request, template, {"form": form, "next": _safe_next(request)})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """The account page; its one form is the training consent."""
    consent = TrainingConsentForm(
        request.POST if request.method == "POST" else None,  # unticked: nothing but the token
        initial={"share_photos_for_training": request.user.share_photos_for_training},
    )
    if request.method == "POST" and consent.is_valid():
        allowed = consent.cleaned_data["share_photos_for_training"]
        set_training_consent(user=request.user, allowed=allowed)
        messages.success(
            request,
            "Your confirmed photos may now be used to improve identification."
            if allowed
            else "Your photos will be left out of the next training export.",
        )
        return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"consent_form": consent})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def delete(request: HttpRequest) -> HttpResponse:
    form = DeleteAccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        user = request.user
        logout(request)
        delete_account(user=user)
        messages.success(request, "Your account and all your sightings were deleted.")
        return redirect("home")
    return render(request, "accounts/delete.html", {"form": form})

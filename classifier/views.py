"""Site pages: thin views over classifier.services (writes) and classifier.selectors (reads);
a selector's None becomes the site's 404 page here."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from classifier.active_model import ClassifierUnavailable, get_predictor
from classifier.browser_session import forget_pending, pending_ids, remember_pending
from classifier.charts import bar_chart
from classifier.ebird import ebird_export, ebird_response
from classifier.forms import LifeListSortForm, SightingFilterForm, SightingForm
from classifier.models import PendingPhoto, Species, Verdict
from classifier.selectors.gallery import (
    get_species,
    public_sightings,
    public_sightings_of,
    species_catalogue,
)
from classifier.selectors.identification import (
    SuggestedSpecies,
    get_pending_photo,
    suggestions_with_species,
)
from classifier.selectors.life_list import LifeListSort, life_list
from classifier.selectors.nearby import NearbyPlace, mark_seen_nearby, nearby_place
from classifier.selectors.sightings import (
    EXPORT_COLUMNS,
    export_rows,
    get_owned_sighting,
    get_visible_sighting,
    map_points,
    place_for_viewer,
    sightings_for_owner,
)
from classifier.services import identification, sightings
from classifier.uploads import UploadRejected, read_upload
from core.storage import StorageUnavailable, photo_url

SPECIES_PER_PAGE = 24
SIGHTINGS_PER_PAGE = 20
LIFE_LIST_CHART_MONTHS = 12  # the month chart shows the log's last months

T = TypeVar("T")


def _classifier_ready() -> bool:
    try:
        get_predictor()
    except ClassifierUnavailable:
        return False
    return True


def _found(value: T | None, message: str) -> T:
    """What a selector found, or the site's 404 page."""
    if value is None:
        raise Http404(message)
    return value


def _pending_or_404(request: HttpRequest, pk) -> PendingPhoto:
    pending = get_pending_photo(
        pk=pk, user=request.user, session_pending_ids=pending_ids(request.session)
    )
    return _found(pending, "This photo is no longer waiting to be saved.")


def _add_service_errors(form: SightingForm, error: ValidationError) -> None:
    """Show a service's refusal on the form: on the field it names, else above the form."""
    for field, field_messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, field_messages)


def _identify_page(
    request: HttpRequest,
    *,
    error: UploadRejected | ClassifierUnavailable | StorageUnavailable | None = None,
) -> HttpResponse:
    return render(
        request,
        "home.html",
        {
            "classifier_ready": _classifier_ready(),
            "error": error,
            "max_upload_mb": settings.MAX_UPLOAD_BYTES // (1024 * 1024),
        },
        status=error.status_code if error else 200,
    )


@require_http_methods(["GET", "HEAD", "POST"])
def identify(request: HttpRequest) -> HttpResponse:
    """The home page: upload a photo, get the species suggestions."""
    if request.method != "POST":
        return _identify_page(request)
    try:
        data = read_upload(upload=request.FILES.get("photo"))
        if not request.session.session_key:
            request.session.save()
        pending = identification.identify_photo(
            data=data,
            owner=request.user if request.user.is_authenticated else None,
            session_key=request.session.session_key,
        )
    except (UploadRejected, ClassifierUnavailable, StorageUnavailable) as error:
        return _identify_page(request, error=error)
    remember_pending(request.session, pending)
    return redirect("classifier:pending_photo", pk=pending.pk)


@require_http_methods(["GET", "HEAD", "POST"])
def pending_photo(request: HttpRequest, pk) -> HttpResponse:
    """The suggestions for an identified photo, and the form that keeps it as a sighting.

    A GET writes nothing: a visitor's photo becomes theirs when they log in or sign up
    (classifier.signals), or when they save it."""
    pending = _pending_or_404(request, pk)
    if request.method == "POST" and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    suggestions = _marked_suggestions(pending)
    form = SightingForm(
        request.POST or None,
        suggestions=suggestions,
        initial=_pending_initial(pending, suggestions),
    )
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            sighting = sightings.save_pending_photo(
                pending=pending, owner=request.user, **form.sighting_fields()
            )
        except ValidationError as error:
            _add_service_errors(form, error)
        except StorageUnavailable as error:
            messages.error(request, error.message)
            status = error.status_code
        else:
            forget_pending(request.session, str(pk))
            messages.success(request, "Sighting saved to your log.")
            return redirect("classifier:sighting_detail", pk=sighting.pk)
    return _pending_page(request, pending, form=form, suggestions=suggestions, status=status)


@require_POST
def reidentify_pending_photo(request: HttpRequest, pk) -> HttpResponse:
    """'Identify this part': the stored photo again, on the box the person drew (no upload)."""
    pending = _pending_or_404(request, pk)
    try:
        identification.reidentify_pending_photo(pending=pending, box=request.POST.get("box", ""))
    except PendingPhoto.DoesNotExist as error:
        raise Http404("This photo is no longer waiting to be saved.") from error
    except (UploadRejected, ClassifierUnavailable, StorageUnavailable) as error:
        messages.error(request, error.message)
        pending.refresh_from_db()
        suggestions = _marked_suggestions(pending)
        form = SightingForm(suggestions=suggestions, initial=_pending_initial(pending, suggestions))
        return _pending_page(
            request, pending, form=form, suggestions=suggestions, status=error.status_code
        )
    messages.success(request, "Identified again on the part you chose.")
    return redirect("classifier:pending_photo", pk=pending.pk)


def _nearby(pending: PendingPhoto) -> NearbyPlace | None:
    """What "seen near here" asks about for a photo: its EXIF position and date (else now)."""
    return nearby_place(
        latitude=pending.latitude, longitude=pending.longitude, moment=pending.taken_at
    )


def _marked_suggestions(pending: PendingPhoto) -> list[SuggestedSpecies]:
    return mark_seen_nearby(
        suggestions=suggestions_with_species(suggestions=pending.suggestions),
        place=_nearby(pending),
    )


def _pending_page(
    request: HttpRequest,
    pending: PendingPhoto,
    *,
    form: SightingForm,
    suggestions: list[SuggestedSpecies],
    status: int,
) -> HttpResponse:
    return render(
        request,
        "classifier/pending_photo.html",
        {
            "pending": pending,
            "photo_url": photo_url(file=pending.photo),
            "suggestions": suggestions,
            "nearby": _nearby(pending),
            "form": form,
            "species_names": Species.objects.order_by("name"),
            "login_query": urlencode(
                {"next": reverse("classifier:pending_photo", kwargs={"pk": pending.pk})}
            ),
            "date_hint": "From the photo's date." if pending.taken_at else "",
            "place_hint": (
                "From the photo's location data (the stored photo does not keep it). "
                "Clear both to leave the place out."
                if pending.latitude is not None
                else ""
            ),
        },
        status=status,
    )


def _pending_initial(pending: PendingPhoto, suggestions: list[SuggestedSpecies]) -> dict:
    top = suggestions[0].species if suggestions and pending.verdict == Verdict.BIRD else None
    observed_at = timezone.localtime(pending.taken_at or timezone.now())
    return {
        **SightingForm.initial_species(top, suggestions),
        "observed_at": observed_at.replace(second=0, microsecond=0),
        "latitude": pending.latitude,
        "longitude": pending.longitude,
    }


@require_POST
def discard_pending_photo(request: HttpRequest, pk) -> HttpResponse:
    pending = _pending_or_404(request, pk)
    identification.discard_pending_photo(pending=pending)
    forget_pending(request.session, str(pk))
    messages.success(request, "The photo was discarded.")
    return redirect("home")


@require_safe
def about(request: HttpRequest) -> HttpResponse:
    try:
        predictor = get_predictor()
    except ClassifierUnavailable:
        predictor = None
    metrics = predictor.metrics if predictor else {}
    return render(
        request,
        "classifier/about.html",
        {
            "predictor": predictor,
            "metrics": _readable_metrics(metrics),
            "species_count": Species.objects.count(),
        },
    )


def _readable_metrics(metrics: dict) -> dict[str, str]:
    """The model's scalar metrics, named and rounded for people."""
    readable = {}
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            continue
        label = name.replace("_", " ")
        readable[label] = f"{value:.3f}" if isinstance(value, float) else str(value)
    return readable


@require_safe
def species_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    page = Paginator(species_catalogue(query=query), SPECIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "classifier/species_list.html",
        {"page": page, "query": query, "page_query": urlencode({"q": query}) if query else ""},
    )


@require_safe
def species_detail(request: HttpRequest, slug: str) -> HttpResponse:
    species = _found(get_species(slug=slug), "No such species.")
    return render(
        request,
        "classifier/species_detail.html",
        {
            "species": species,
            "sightings": public_sightings_of(species=species),
            "map_points": map_points(
                sightings=public_sightings(species=species), user=request.user
            ),
        },
    )


def _log_filters(request: HttpRequest) -> tuple[SightingFilterForm, dict]:
    """My sightings' filters from the query: the form, and its criteria (empty when invalid)."""
    filters = SightingFilterForm(request.GET or None)
    criteria = filters.cleaned_data if filters.is_valid() else {}
    return filters, {name: criteria.get(name) for name in SightingFilterForm.base_fields}


@login_required
@require_safe
def sighting_list(request: HttpRequest) -> HttpResponse:
    filters, criteria = _log_filters(request)
    log = sightings_for_owner(owner=request.user, **criteria)
    page = Paginator(log, SIGHTINGS_PER_PAGE).get_page(request.GET.get("page"))
    query = {k: v for k, v in request.GET.items() if k != "page" and v}
    return render(
        request,
        "classifier/sighting_list.html",
        {
            "page": page,
            "filters": filters,
            "filtered": any(criteria.values()),
            "page_query": urlencode(query),
            "filter_query": urlencode({k: v for k, v in query.items() if k in criteria}),
            "species_names": Species.objects.order_by("name"),
            "map_points": map_points(sightings=log, user=request.user),
        },
    )


@login_required
@require_safe
def sighting_ebird_export(request: HttpRequest) -> HttpResponse:
    """The sightings My sightings shows (same filters) in eBird's record format; a bad filter
    is a 400 naming it, not a file of everything."""
    filters, criteria = _log_filters(request)
    if filters.errors:
        problems = "; ".join(
            f"{filters.fields[name].label if name in filters.fields else 'Filter'}: {message}"
            for name, messages in filters.errors.items()
            for message in messages
        )
        return HttpResponse(
            f"Bad filter: {problems}", status=400, content_type="text/plain; charset=utf-8"
        )
    return ebird_response(export=ebird_export(owner=request.user, **criteria))


@login_required
@require_safe
def sighting_export(request: HttpRequest) -> HttpResponse:
    """The owner's whole log as CSV (spreadsheet formulas in their text are neutralised)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="birdsite-sightings-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(EXPORT_COLUMNS)
    for row in export_rows(owner=request.user):
        writer.writerow(_spreadsheet_safe(value) for value in row)
    return response


def _spreadsheet_safe(value):
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return f"'{value}"
    return value


@login_required
@require_safe
def life_list_page(request: HttpRequest) -> HttpResponse:
    """Every species the person logged, sortable, with their species per year and per month."""
    sorting = LifeListSortForm(request.GET)
    sort = sorting.sort_order()
    listing = life_list(owner=request.user, sort=sort)
    months = listing.months[-LIFE_LIST_CHART_MONTHS:]
    return render(
        request,
        "classifier/life_list.html",
        {
            "listing": listing,
            "sort": sort,
            "sorts": LifeListSort.choices,
            "sort_errors": sorting.errors.get("sort", []),
            "year_chart": bar_chart(
                title="Species seen per year",
                values=[(f"{total.start:%Y}", total.species) for total in listing.years],
            ),
            "month_chart": bar_chart(
                title="Species seen per month"
                + (f", {months[0].start:%b %Y} to {months[-1].start:%b %Y}" if months else ""),
                values=[(f"{total.start:%b %Y}", total.species) for total in months],
            ),
        },
        status=400 if sorting.errors else 200,
    )


@require_safe
def sighting_detail(request: HttpRequest, pk: int) -> HttpResponse:
    sighting = _found(get_visible_sighting(user=request.user, pk=pk), "No such sighting.")
    return render(
        request,
        "classifier/sighting_detail.html",
        {
            "sighting": sighting,
            "is_owner": sighting.owner_id == request.user.pk,
            "place": place_for_viewer(sighting=sighting, user=request.user),
            "photo_url": photo_url(file=sighting.photo),
            "suggestions": suggestions_with_species(suggestions=sighting.suggestions),
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
def sighting_edit(request: HttpRequest, pk: int) -> HttpResponse:
    sighting = _found(get_owned_sighting(owner=request.user, pk=pk), "No such sighting.")
    suggestions = suggestions_with_species(suggestions=sighting.suggestions)
    form = SightingForm(
        request.POST or None,
        suggestions=suggestions,
        initial={
            **SightingForm.initial_species(sighting.species, suggestions),
            "observed_at": timezone.localtime(sighting.observed_at),
            "count": sighting.count,
            "place_name": sighting.place_name,
            "latitude": sighting.latitude,
            "longitude": sighting.longitude,
            "notes": sighting.notes,
            "visibility": sighting.visibility,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            sightings.update_sighting(sighting=sighting, **form.sighting_fields())
        except ValidationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(request, "Sighting updated.")
            return redirect("classifier:sighting_detail", pk=sighting.pk)
    return render(
        request,
        "classifier/sighting_edit.html",
        {
            "sighting": sighting,
            "photo_url": photo_url(file=sighting.photo),
            "suggestions": suggestions,
            "form": form,
            "species_names": Species.objects.order_by("name"),
        },
        status=400 if request.method == "POST" else 200,
    )


@require_http_methods(["GET", "HEAD", "POST"])
def sighting_delete(request: HttpRequest, pk: int) -> HttpResponse:
    sighting = _found(get_owned_sighting(owner=request.user, pk=pk), "No such sighting.")
    if request.method == "POST":
        sightings.delete_sighting(sighting=sighting)
        messages.success(request, "Sighting deleted.")
        return redirect("classifier:sighting_list")
    return render(request, "classifier/sighting_delete.html", {"sighting": sighting})


@require_safe
def media_file(request: HttpRequest, path: str) -> FileResponse:
    """Local media (no S3): files under unguessable random keys, like presigned S3 URLs."""
    root = Path(settings.MEDIA_ROOT).resolve()
    target = (root / path).resolve()
    if settings.USE_S3 or not target.is_relative_to(root) or not target.is_file():
        raise Http404("No such file.")
    return FileResponse(target.open("rb"))

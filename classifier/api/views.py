"""API views: parse and check input, call a service or selector, serialise the answer.

Domain errors (upload refused, classifier/storage/database down) are turned into JSON answers
by `exceptions.api_exception_handler`, so no view translates exceptions itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services as accounts
from accounts.ratelimit import client_address
from classifier.active_model import identify
from classifier.api import serializers as s
from classifier.api.exceptions import JsonErrorsMixin
from classifier.api.throttles import PredictAnonThrottle, PredictUserThrottle
from classifier.ebird import SKIPPED_HEADER, ebird_export, ebird_response
from classifier.models import Sighting, Species
from classifier.selectors.gallery import get_species, species_catalogue
from classifier.selectors.identification import suggestions_with_species
from classifier.selectors.life_list import life_list
from classifier.selectors.nearby import NearbyPlace, mark_seen_nearby, nearby_place
from classifier.selectors.sightings import (
    get_owned_sighting,
    get_visible_sighting,
    sightings_for_owner,
)
from classifier.services import sightings
from classifier.uploads import PhotoFacts, read_photo_facts, read_upload

# Largest integer the database keys hold; longer ids cannot exist, so the URL does not match.
ID_PATTERN = r"[0-9]{1,18}"


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """Schema entries for the JSON error answers a view can give."""
    return {code: OpenApiResponse(s.ErrorSerializer) for code in statuses}


T = TypeVar("T")

AUTH_ERRORS = errors(401)
UPLOAD_ERRORS = errors(400, 413, 415, 503)


def found(value: T | None) -> T:
    """What a selector found, or the API's JSON 404."""
    if value is None:
        raise NotFound()
    return value


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100


class AuthTokenView(JsonErrorsMixin, GenericAPIView):
    """Obtain (POST username/password) or revoke (DELETE) the caller's API token.

    Failed attempts count against the same per-address limit as the site's log-in form
    (accounts.services), so the API is no back door for password guessing.
    """

    serializer_class = s.TokenRequestSerializer
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "DELETE" else [AllowAny()]

    @extend_schema(
        summary="Obtain a token",
        responses={200: s.TokenSerializer, **errors(400, 429)},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = accounts.obtain_token(**serializer.validated_data, client=client_address(request))
        return Response({"token": token.key})

    @extend_schema(summary="Revoke the token", request=None, responses={204: None, **AUTH_ERRORS})
    def delete(self, request: Request) -> Response:
        accounts.revoke_token(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountView(JsonErrorsMixin, GenericAPIView):
    """The caller's account, and their consent to their confirmed photos training the model."""

    serializer_class = s.AccountSerializer
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(summary="Your account", responses={200: s.AccountSerializer, **AUTH_ERRORS})
    def get(self, request: Request) -> Response:
        return Response(self.get_serializer(request.user).data)

    @extend_schema(
        summary="Change your training consent (`share_photos_for_training`)",
        responses={200: s.AccountSerializer, **AUTH_ERRORS, **errors(400, 415)},
    )
    def patch(self, request: Request) -> Response:
        serializer = self.get_serializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "share_photos_for_training" in serializer.validated_data:
            accounts.set_training_consent(
                user=request.user, allowed=serializer.validated_data["share_photos_for_training"]
            )
        return Response(self.get_serializer(request.user).data)


class PredictView(JsonErrorsMixin, GenericAPIView):
    """Name the bird in a photo, optionally in the `box` the caller points at. Open to everybody,
    throttled; stores nothing."""

    permission_classes = [AllowAny]
    throttle_classes = [PredictAnonThrottle, PredictUserThrottle]
    parser_classes = [MultiPartParser]
    serializer_class = s.PredictRequestSerializer

    @extend_schema(
        summary="Identify the bird in a photo",
        request={"multipart/form-data": s.PredictRequestSerializer},
        responses={200: s.PredictionSerializer, **UPLOAD_ERRORS, **errors(429)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        data = read_upload(upload=fields["image"])
        identification = identify(image=data, box=fields.get("box"), k=fields["k"])
        result = identification.prediction
        facts = read_photo_facts(data=data)
        suggestions = mark_seen_nearby(
            suggestions=suggestions_with_species(
                suggestions=[
                    {"species": item.name, "probability": item.probability}
                    for item in result.suggestions
                ]
            ),
            place=_place_of_photo(fields, facts=facts, moment=facts.taken_at),
        )
        body = {
            "verdict": result.verdict,
            "model": {"version": result.model_version},
            "predictions": suggestions,
            "box": identification.box,
            "box_source": identification.box_source,
            "photo_width": identification.photo_size[0],
            "photo_height": identification.photo_size[1],
        }
        return Response(s.PredictionSerializer(body, context={"request": request}).data)


def _place_of_photo(
    fields: dict, *, facts: PhotoFacts, moment: datetime | None
) -> NearbyPlace | None:
    """The place "seen near here" asks about: the one the caller gave, else the photo's EXIF."""
    if fields.get("latitude") is not None:
        return nearby_place(
            latitude=fields["latitude"], longitude=fields["longitude"], moment=moment
        )
    return nearby_place(latitude=facts.latitude, longitude=facts.longitude, moment=moment)


@extend_schema_view(
    list=extend_schema(
        summary="Your sightings",
        parameters=[s.SightingFilterSerializer],
        responses={200: s.SightingSerializer(many=True), **AUTH_ERRORS, **errors(400, 404)},
    ),
    retrieve=extend_schema(
        summary="A sighting (yours, or another person's public one)",
        responses={200: s.SightingSerializer, **AUTH_ERRORS, **errors(404)},
    ),
    create=extend_schema(
        summary="Record a sighting from a photo (the classifier's suggestions are stored)",
        request={"multipart/form-data": s.SightingCreateSerializer},
        responses={201: s.SightingCreatedSerializer, **AUTH_ERRORS, **UPLOAD_ERRORS, **errors(429)},
    ),
    update=extend_schema(
        summary="Replace the editable fields of your sighting",
        request=s.SightingWriteSerializer,
        responses={200: s.SightingSerializer, **AUTH_ERRORS, **errors(400, 404)},
    ),
    partial_update=extend_schema(
        summary="Change some fields of your sighting",
        request=s.SightingWriteSerializer,
        responses={200: s.SightingSerializer, **AUTH_ERRORS, **errors(400, 404)},
    ),
    destroy=extend_schema(
        summary="Delete your sighting and its photo",
        responses={204: None, **AUTH_ERRORS, **errors(404)},
    ),
)
class SightingViewSet(JsonErrorsMixin, viewsets.GenericViewSet):
    """The caller's sightings. Others' private sightings answer 404; public ones are
    readable but only their owner may change them."""

    serializer_class = s.SightingSerializer
    pagination_class = Pagination
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    lookup_value_regex = ID_PATTERN

    def get_throttles(self):
        """A create identifies a photo (and answers "seen near here"): the predict limits."""
        if self.action == "create":
            return [PredictAnonThrottle(), PredictUserThrottle()]
        return super().get_throttles()

    def get_queryset(self) -> QuerySet[Sighting]:
        filters = s.SightingFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return sightings_for_owner(owner=self.request.user, **filters.validated_data)

    def get_object(self) -> Sighting:
        pk = int(self.kwargs["pk"])
        if self.action == "retrieve":
            return found(get_visible_sighting(user=self.request.user, pk=pk))
        return found(get_owned_sighting(owner=self.request.user, pk=pk))

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def create(self, request: Request) -> Response:
        serializer = s.SightingCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        data = read_upload(upload=fields.pop("photo"))
        sighting = sightings.create_sighting(owner=request.user, data=data, **fields)
        marked = mark_seen_nearby(
            suggestions=suggestions_with_species(suggestions=sighting.suggestions),
            place=_place_of_photo(
                fields, facts=read_photo_facts(data=data), moment=sighting.observed_at
            ),
            excluding=sighting,
        )
        context = {**self.get_serializer_context(), "suggestions": {sighting.pk: marked}}
        body = s.SightingCreatedSerializer(sighting, context=context).data
        return Response(body, status=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        sighting = self.get_object()
        serializer = s.SightingWriteSerializer(sighting, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        sighting = sightings.update_sighting(sighting=sighting, **serializer.validated_data)
        return Response(self.get_serializer(sighting).data)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: str) -> Response:
        sightings.delete_sighting(sighting=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class EbirdExportView(JsonErrorsMixin, APIView):
    """Your sightings (the list's filters) as eBird's "eBird Record Format (Extended)" CSV, the
    file the site's "Export for eBird" gives."""

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # The answer is the CSV file whatever the client says it accepts (`Accept: text/csv`
        # included); an error is the API's JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="Your sightings as an eBird import file",
        description=(
            "19 columns in eBird's order, no header row, UTF-8, whatever `Accept` says (rules: "
            'docs/architecture.md, "Life list and eBird export"). Unknown birds are left out; '
            f"the `{SKIPPED_HEADER}` header says how many."
        ),
        parameters=[s.SightingFilterSerializer],
        responses={
            (200, "text/csv"): OpenApiResponse({"type": "string"}, description="The CSV file."),
            **AUTH_ERRORS,
            **errors(400),
        },
    )
    def get(self, request: Request) -> HttpResponse:
        filters = s.SightingFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return ebird_response(export=ebird_export(owner=request.user, **filters.validated_data))


class LifeListView(JsonErrorsMixin, APIView):
    """Every species you have logged (unknown birds are on no list), with first and last date,
    the first sighting's place and photo, the number of sightings, and totals per year and
    month. Read live from your sightings: it follows every edit and deletion."""

    @extend_schema(
        summary="Your life list",
        parameters=[s.LifeListQuerySerializer],
        responses={200: s.LifeListSerializer, **AUTH_ERRORS, **errors(400)},
    )
    def get(self, request: Request) -> Response:
        query = s.LifeListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        sort = query.validated_data["sort"]
        listing = life_list(owner=request.user, sort=sort)
        body = {"sort": sort, **vars(listing)}
        return Response(s.LifeListSerializer(body, context={"request": request}).data)


@extend_schema_view(
    list=extend_schema(
        summary="The species catalogue",
        parameters=[s.SpeciesFilterSerializer],
        responses={200: s.SpeciesSerializer(many=True), **errors(400, 404)},
    ),
    retrieve=extend_schema(
        summary="A species with its sample photos and number of sightings",
        responses={200: s.SpeciesDetailSerializer, **errors(404)},
    ),
)
class SpeciesViewSet(
    JsonErrorsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The species catalogue, open to everybody."""

    permission_classes = [AllowAny]
    serializer_class = s.SpeciesSerializer
    pagination_class = Pagination
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]{1,140}"

    def get_queryset(self) -> QuerySet[Species]:
        filters = s.SpeciesFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return species_catalogue(query=filters.validated_data.get("search", ""))

    def get_object(self) -> Species:
        return found(get_species(slug=self.kwargs["slug"]))

    def get_serializer_class(self):
        return s.SpeciesDetailSerializer if self.action == "retrieve" else s.SpeciesSerializer


class NotFoundView(JsonErrorsMixin, APIView):
    """Unknown URLs under /api/v1/ answer a JSON 404 too, not the site's HTML page."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None

    def http_method_not_allowed(self, request: Request, *args, **kwargs) -> Response:
        raise NotFound()

    options = http_method_not_allowed

"""Shared fixtures: real services only (a moto S3 server over HTTP, PostgreSQL when configured)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from benchmarks.stack import moto_server
from birdsite.settings import s3_storage

# A small real model trained once per session (slow tier only).
pytest_plugins = ["tests.model_fixtures"]

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
S3_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the real photos are missing: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 endpoint over HTTP: the one CI started, or a moto server of our own."""
    configured = os.environ.get("AWS_S3_ENDPOINT_URL")
    if configured:
        yield configured
        return
    with moto_server() as (_, endpoint):
        yield endpoint


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **S3_CREDENTIALS)


@pytest.fixture(scope="session", autouse=True)
def _configured_bucket() -> None:
    """When the environment switches S3 on for the whole run, make sure its bucket exists."""
    bucket = os.environ.get("AWS_STORAGE_BUCKET_NAME")
    endpoint = os.environ.get("AWS_S3_ENDPOINT_URL")
    if bucket and endpoint:
        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", **S3_CREDENTIALS
        )
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)


@pytest.fixture
def s3_bucket(settings, s3_endpoint: str, s3_client) -> str:
    """Switch media storage to a fresh bucket on the S3 endpoint for one test."""
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    settings.AWS_STORAGE_BUCKET_NAME = bucket
    settings.USE_S3 = True
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(
            bucket_name=bucket,
            endpoint_url=s3_endpoint,
            region_name="us-east-1",
            access_key=S3_CREDENTIALS["aws_access_key_id"],
            secret_key=S3_CREDENTIALS["aws_secret_access_key"],
        ),
    }
    return bucket


@pytest.fixture
def local_photos(settings) -> None:
    """Photos on local files for one test, whatever storage the run's environment switched on."""
    settings.USE_S3 = False
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }


def bucket_keys(s3_client, bucket: str) -> list[str]:
    return [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path: Path) -> None:
    """Local media files of each test go to its own folder (S3 tests override storage)."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Rate-limit counters, throttles and the worker's copy of the species catalogue must not
    leak from one test into the next (a test's rows are rolled back without any signal)."""
    from django.core.cache import cache

    from classifier.selectors.identification import forget_catalogue

    cache.clear()
    forget_catalogue()
    yield
    cache.clear()
    forget_catalogue()


@pytest.fixture
def bird_photo(shared_data: Path) -> Path:
    return sorted((shared_data / "cub100" / "valid").glob("*/*.jpg"))[0]


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests leave things for people to look at (screenshots, reports)."""
    path = REPO / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


def which(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run ./scripts/test, which installs it")
    return path

"""Photo storage: the S3 backend, and the calls every app makes to store, read and show files.

Files and rows move together: a file is stored before its row is written and removed again if
the row cannot be written (`files_removed_on_failure`). An unreachable or failing S3 surfaces as
`StorageUnavailable`, which the outage handling answers with a 503.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urlsplit

import boto3
import botocore.loaders
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Model
from django.db.models.fields.files import FieldFile
from storages.backends.s3 import S3Storage

logger = logging.getLogger(__name__)

T = TypeVar("T")


class StorageUnavailable(Exception):
    """Photo storage (S3) cannot be reached; nothing was saved. Answered with 503."""

    status_code = 503
    message = "Photo storage is unavailable right now. Please try again in a few minutes."

    def __init__(self) -> None:
        super().__init__(self.message)


def storage_call(action: Callable[[], T]) -> T:
    """Run a storage operation, turning an unreachable or failing S3 into `StorageUnavailable`."""
    try:
        return action()
    except (BotoCoreError, ClientError) as error:
        logger.error("photo storage failed: %s", error)
        raise StorageUnavailable() from error


@contextmanager
def files_removed_on_failure() -> Iterator[list[FieldFile]]:
    """Collect files stored inside the block; if the block fails, remove them again."""
    stored: list[FieldFile] = []
    try:
        yield stored
    except BaseException:
        for field_file in stored:
            try:
                field_file.storage.delete(field_file.name)
            except (BotoCoreError, ClientError, OSError):
                logger.warning("could not remove orphaned file %s", field_file.name)
        raise


def store_file(
    *, stored: list[FieldFile], field_file: FieldFile, name: str, content: bytes
) -> None:
    """Save `content` into a file field (not its row) and note it in `stored` for clean-up."""
    storage_call(lambda: field_file.save(name, ContentFile(content), save=False))
    stored.append(field_file)


def save_with_file(*, instance: Model, field_name: str, content: bytes) -> None:
    """Store the file, then the row; if the row cannot be written, remove the stored file."""
    with files_removed_on_failure() as stored, transaction.atomic():
        store_file(
            stored=stored,
            field_file=getattr(instance, field_name),
            name="photo.jpg",
            content=content,
        )
        instance.save()


def read_file(field_file: FieldFile) -> bytes:
    """The whole stored file (`StorageUnavailable` when S3 fails)."""

    def read() -> bytes:
        with field_file.open("rb") as handle:
            return handle.read()

    return storage_call(read)


def photo_url(*, file: FieldFile | None) -> str:
    """Where the browser fetches a stored photo: a short-lived presigned URL on S3."""
    if not file or not file.name:
        return ""
    try:
        return file.url
    except (BotoCoreError, ClientError) as error:
        logger.warning("cannot sign photo URL: %s", error)
        return ""


@functools.cache
def shared_loader() -> botocore.loaders.Loader:
    """botocore's JSON data loader (service and resource models), parsed once per process."""
    return botocore.loaders.create_loader()


class SharedModelS3Storage(S3Storage):
    """S3Storage whose per-thread boto3 sessions share one data loader.

    The backend opens a boto3 session in every thread (boto3 resources are not thread-safe), and
    each new session parses the S3 service model again: about 13 MB per gunicorn thread. The
    loader only caches parsed JSON, which threads can share.
    """

    def _create_session(self) -> boto3.Session:
        return shared_session(
            profile=self.session_profile,
            access_key=self.access_key,
            secret_key=self.secret_key,
            token=self.security_token,
        )


def shared_session(
    *,
    profile: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    token: str | None = None,
) -> boto3.Session:
    """A boto3 session on the process's shared data loader (a profile, or keys; neither: the
    default chain, e.g. an instance role)."""
    core = botocore.session.get_session()
    core.register_component("data_loader", shared_loader())
    if profile:
        return boto3.Session(profile_name=profile, botocore_session=core)
    return boto3.Session(
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
        botocore_session=core,
    )


def photo_origin() -> str:
    """The origin the browser fetches stored photos from when it is not the site itself (S3
    presigned URLs; "" for local files): the pages' Content-Security-Policy allows images from it.

    Read from a URL the storage signs, so the endpoint, custom domain and addressing style are
    the ones real photo URLs use. An S3 that cannot sign now is asked again on the next page.
    """
    storage = storages["default"]
    if not isinstance(storage, S3Storage):
        return ""
    try:
        return _signed_origin(storage)
    except (BotoCoreError, ClientError) as error:
        logger.warning("cannot sign photo URL: %s", error)
        return ""


@functools.lru_cache(maxsize=4)
def _signed_origin(storage: S3Storage) -> str:
    url = urlsplit(storage.url("origin"))
    return f"{url.scheme}://{url.netloc}"

"""core.storage: the S3 backend's threads share one parsed botocore service model."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from core.storage import shared_loader
from tests.conftest import bucket_keys


def test_s3_threads_each_have_a_connection_but_share_the_parsed_service_model(
    s3_bucket, s3_client, bird_photo: Path
):
    """gunicorn threads: one boto3 connection each (they are not thread-safe), one data loader."""
    content = bird_photo.read_bytes()
    all_started = threading.Barrier(3, timeout=30)  # three tasks, three distinct threads

    def store(index: int) -> tuple[object, object, str]:
        name = default_storage.save(f"checks/thread-{index}.jpg", ContentFile(content))
        all_started.wait()
        connection = default_storage.connection
        return connection, connection.meta.client._loader, name

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(store, range(3)))
    connections, loaders, names = zip(*results, strict=True)
    assert len({id(c) for c in connections}) == 3
    assert all(loader is shared_loader() for loader in loaders)
    assert sorted(names) == sorted(bucket_keys(s3_client, s3_bucket))
    for name in names:
        default_storage.delete(name)

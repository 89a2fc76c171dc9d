"""The S3 photo storage: django-storages' backend with one botocore data loader per process."""

from __future__ import annotations

import functools

import boto3
import botocore.loaders
import botocore.session
from storages.backends.s3 import S3Storage


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
        core = botocore.session.get_session()
        core.register_component("data_loader", shared_loader())
        if self.session_profile:
            return boto3.Session(profile_name=self.session_profile, botocore_session=core)
        return boto3.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            aws_session_token=self.security_token,
            botocore_session=core,
        )

"""The S3 model store (`BIRDSITE_MODEL_STORE=s3`): one set of models for any number of web hosts.

`promote_model` uploads the model directory once under its version (the version is a hash of
what it serves, so a version never changes) and records the switch in `ModelPromotion`; the
latest record names the active version. Each web worker reads that version every few seconds
(`classifier.active_model`), fetches a version it does not have into `MODELS_DIR/<version>` and
serves it from there. The local `MODELS_DIR/active` link stays the default for one machine.

The bucket's layout is this module's: `models/<version>/<file>` for every file of the model
directory, then `models/<version>/manifest.json` ({"version", "files": {name: sha256}}), written
last: a version whose manifest exists is complete. A fetch downloads into a staging folder
beside its place, checks every file against the manifest and renames the folder in whole
(`ml.atomic`), so a partial or tampered copy never becomes a model directory.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path, PurePosixPath

import botocore.config
from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from classifier.models import ModelPromotion
from core.storage import shared_session
from ml import atomic
from ml.model_dir import ModelDir, ModelDirError, file_digests, mismatched_files

logger = logging.getLogger(__name__)

PREFIX = "models/"
MANIFEST = "manifest.json"
MISSING = {"404", "NoSuchKey", "NotFound"}


class ModelStoreError(Exception):
    """A version the store cannot give: absent, or its files do not match its manifest."""


class ModelStoreUnavailable(ModelStoreError):
    """The model bucket cannot be reached (or answers errors) right now."""


def enabled() -> bool:
    return settings.MODEL_STORE == "s3"


def location(*, version: str) -> str:
    """Where a version lives, as `ModelPromotion.model_path` records it."""
    return f"s3://{settings.MODEL_BUCKET}/{_key(version, '')}"


def active_version() -> str | None:
    """The version the latest promotion or rollback made active; None before the first."""
    return ModelPromotion.objects.values_list("version", flat=True).first()


def previous_version() -> str | None:
    """The version active before the current one (what a rollback returns to); a rollback's
    target is in turn the version rolled back from, so a second rollback undoes the first."""
    versions = ModelPromotion.objects.values_list("version", flat=True)
    current = versions.first()
    return versions.exclude(version=current).first() if current else None


def publish(*, model: ModelDir) -> str:
    """Upload the model directory under its version unless the store has it; its location.

    Files first, the manifest last; a failed upload removes what it uploaded (nothing is left
    half-written). Raises `ModelStoreUnavailable`."""
    client = _client()
    manifest_key = _key(model.version, MANIFEST)
    try:
        if _exists(client, manifest_key):
            return location(version=model.version)
    except (BotoCoreError, ClientError) as error:
        raise ModelStoreUnavailable(f"the model bucket cannot be reached: {error}") from error
    digests = file_digests(path=model.path)
    uploaded: list[str] = []
    try:
        for name in digests:
            key = _key(model.version, name)
            client.upload_file(str(model.path / name), settings.MODEL_BUCKET, key)
            uploaded.append(key)
        manifest = {"version": model.version, "files": digests}
        client.put_object(
            Bucket=settings.MODEL_BUCKET,
            Key=manifest_key,
            Body=json.dumps(manifest, indent=2, sort_keys=True).encode(),
            ContentType="application/json",
        )
    except (BotoCoreError, ClientError) as error:
        _remove(client, uploaded)
        raise ModelStoreUnavailable(f"uploading model {model.version} failed: {error}") from error
    logger.info(
        "published model %s (%s files)",
        model.version,
        len(digests),
        extra={"model_version": model.version},
    )
    return location(version=model.version)


def fetch(*, version: str, models_root: Path) -> ModelDir:
    """The local copy of `version` in `models_root`, downloaded and checked first when missing.

    Raises `ModelStoreUnavailable` (S3 down) or `ModelStoreError` (absent, or a file that does
    not match the manifest); then nothing is left in `models_root`."""
    if len(_safe_name(version).parts) != 1:
        raise ModelStoreError(f"{version!r} is not a model version")
    target = Path(models_root) / version
    try:
        return ModelDir.open(path=target)
    except ModelDirError:
        pass
    client = _client()
    try:
        manifest = json.loads(_read(client, _key(version, MANIFEST)))
        files = manifest["files"]
        with atomic.staging_dir(parent=models_root) as staged:
            for name in files:
                destination = staged / _safe_name(name)
                destination.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(settings.MODEL_BUCKET, _key(version, name), str(destination))
            bad = mismatched_files(path=staged, digests=files)
            if bad:
                raise ModelStoreError(
                    f"model {version} refused: {', '.join(bad)} do not match its manifest"
                )
            if ModelDir.open(path=staged).version != version:
                raise ModelStoreError(f"model {version} refused: its version.json names another")
            _swap_in(staged=staged, target=target)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in MISSING:
            raise ModelStoreError(f"model {version} is not in the store: {error}") from error
        raise ModelStoreUnavailable(f"fetching model {version} failed: {error}") from error
    except BotoCoreError as error:
        raise ModelStoreUnavailable(f"fetching model {version} failed: {error}") from error
    except (KeyError, TypeError, ValueError) as error:  # ModelDirError is a ValueError
        raise ModelStoreError(f"model {version} refused: {error!r}") from error
    logger.info("fetched model %s", version, extra={"model_version": version})
    return ModelDir.open(path=target)


def _swap_in(*, staged: Path, target: Path) -> None:
    """Rename the checked copy into place; another worker of this host may have won the race."""
    try:
        atomic.swap_in(staged=staged, target=target, replace=False)
    except OSError:
        if not target.is_dir():
            raise


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ModelStoreError(f"{name!r} is not a name inside a model's folder")
    return path


def _client() -> BaseClient:
    """An S3 client with the photo storage's credentials and timeouts, on the model store's
    endpoint (`BIRDSITE_MODEL_S3_ENDPOINT_URL`; the photos' by default)."""
    options = settings.STORAGES["default"]["OPTIONS"]
    return _cached_client(
        endpoint_url=settings.MODEL_S3_ENDPOINT_URL or options.get("endpoint_url"),
        region_name=options.get("region_name"),
        access_key=options.get("access_key"),
        secret_key=options.get("secret_key"),
        config=options["client_config"],
    )


@functools.cache
def _cached_client(
    *,
    endpoint_url: str | None,
    region_name: str | None,
    access_key: str | None,
    secret_key: str | None,
    config: botocore.config.Config,
) -> BaseClient:
    """One client per configuration and process (boto3 clients are thread-safe)."""
    session = shared_session(access_key=access_key, secret_key=secret_key)
    return session.client("s3", endpoint_url=endpoint_url, region_name=region_name, config=config)


def _key(version: str, name: str) -> str:
    return f"{PREFIX}{version}/{name}"


def _exists(client, key: str) -> bool:
    try:
        client.head_object(Bucket=settings.MODEL_BUCKET, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in MISSING:
            return False
        raise
    return True


def _read(client, key: str) -> bytes:
    return client.get_object(Bucket=settings.MODEL_BUCKET, Key=key)["Body"].read()


def _remove(client, keys: list[str]) -> None:
    for key in keys:
        try:
            client.delete_object(Bucket=settings.MODEL_BUCKET, Key=key)
        except (BotoCoreError, ClientError):
            logger.warning("could not remove the partly uploaded %s", key)

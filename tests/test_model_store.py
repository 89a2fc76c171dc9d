"""The S3 model store on a real S3 endpoint (moto over HTTP): a version uploaded once with its
manifest, the promotion history naming the active version, a fetch checked file by file."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from classifier import model_store
from classifier.models import ModelPromotion
from classifier.promotion import PromotionError, activate_model, rollback_model
from ml.model_dir import MODEL_FILE, file_digests
from tests.conftest import bucket_keys
from tests.model_dirs import fake_model_dir
from tests.test_promotion import SPECIES, add_species

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings, s3_bucket: str, tmp_path: Path) -> Path:
    """The S3 model store on, in the test's bucket; returns this "host's" models dir."""
    settings.MODEL_STORE = "s3"
    settings.MODEL_BUCKET = s3_bucket
    settings.MODELS_DIR = tmp_path / "host-a"
    add_species(SPECIES)
    return settings.MODELS_DIR


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    """Where the trainer wrote its model directories (not a web host's models dir)."""
    return tmp_path / "trained"


def test_promote_uploads_the_version_once_and_records_it(
    store: Path, trained: Path, s3_bucket: str, s3_client
) -> None:
    model = fake_model_dir(trained, "v1", SPECIES)
    record = activate_model(model_dir=model, performed_by="alice")
    assert record.model_path == f"s3://{s3_bucket}/models/v1/"
    assert model_store.active_version() == "v1"
    keys = set(bucket_keys(s3_client, s3_bucket))
    assert keys == {f"models/v1/{name}" for name in [*file_digests(path=model), "manifest.json"]}
    manifest = json.loads(
        s3_client.get_object(Bucket=s3_bucket, Key="models/v1/manifest.json")["Body"].read()
    )
    assert manifest == {"version": "v1", "files": file_digests(path=model)}
    assert not (store / "active").exists()  # no link moves: the record alone is the switch

    # once: a version the store has is not uploaded again (its objects stay as they are)
    s3_client.put_object(Bucket=s3_bucket, Key="models/v1/metrics.json", Body=b"{}")
    activate_model(model_dir=model, performed_by="alice")
    body = s3_client.get_object(Bucket=s3_bucket, Key="models/v1/metrics.json")["Body"].read()
    assert body == b"{}"


def test_another_host_fetches_an_identical_checked_copy(store: Path, trained: Path) -> None:
    model = fake_model_dir(trained, "v1", SPECIES)
    activate_model(model_dir=model, performed_by="alice")
    other_host = store.parent / "host-b"
    fetched = model_store.fetch(version="v1", models_root=other_host)
    assert fetched.path == other_host / "v1"
    assert file_digests(path=fetched.path) == file_digests(path=model)
    assert [p.name for p in other_host.iterdir()] == ["v1"]  # no staging folder left


def test_a_tampered_file_is_refused_and_nothing_is_left(
    store: Path, trained: Path, s3_bucket: str, s3_client
) -> None:
    activate_model(model_dir=fake_model_dir(trained, "v1", SPECIES), performed_by="alice")
    s3_client.put_object(Bucket=s3_bucket, Key=f"models/v1/{MODEL_FILE}", Body=b"evil")
    with pytest.raises(model_store.ModelStoreError, match=f"{MODEL_FILE} do not match"):
        model_store.fetch(version="v1", models_root=store)
    assert not store.exists() or list(store.iterdir()) == []


def test_a_version_missing_from_the_store_is_refused(store: Path) -> None:
    with pytest.raises(model_store.ModelStoreError, match="not in the store") as refused:
        model_store.fetch(version="nope", models_root=store)
    assert not isinstance(refused.value, model_store.ModelStoreUnavailable)
    with pytest.raises(model_store.ModelStoreError, match="not a name inside"):
        model_store.fetch(version="../elsewhere", models_root=store)


def test_rollback_returns_to_the_previous_version_fetched_from_the_store(
    store: Path, trained: Path
) -> None:
    activate_model(model_dir=fake_model_dir(trained, "v1", SPECIES), performed_by="alice")
    activate_model(model_dir=fake_model_dir(trained, "v2", SPECIES), performed_by="bob")
    back = rollback_model(performed_by="carol")
    assert (back.action, back.version) == ("rollback", "v1")
    assert model_store.active_version() == "v1"
    assert (store / "v1").is_dir()  # this host never had v1: the rollback fetched it
    rollback_model(performed_by="carol")  # a second rollback undoes the first
    actions = list(ModelPromotion.objects.order_by("id").values_list("action", "version"))
    assert actions == [("promote", "v1"), ("promote", "v2"), ("rollback", "v1"), ("rollback", "v2")]


def test_rollback_without_history_is_refused(store: Path) -> None:
    with pytest.raises(PromotionError, match="promotion history"):
        rollback_model(performed_by="carol")


def test_an_unreachable_store_refuses_the_promotion_and_records_nothing(
    store: Path, trained: Path, settings
) -> None:
    from benchmarks.stack import free_port
    from birdsite.settings import s3_storage

    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(
            bucket_name=settings.MODEL_BUCKET,
            endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
            region_name="us-east-1",
            access_key="testing",
            secret_key="testing",
        ),
    }
    with pytest.raises(PromotionError, match="Not promoted, nothing changed"):
        activate_model(model_dir=fake_model_dir(trained, "v1", SPECIES), performed_by="alice")
    assert not ModelPromotion.objects.exists()


def test_two_workers_of_one_host_fetching_at_once_get_the_same_copy(
    store: Path, trained: Path
) -> None:
    activate_model(model_dir=fake_model_dir(trained, "v1", SPECIES), performed_by="alice")
    with ThreadPoolExecutor(max_workers=2) as pool:
        fetched = list(pool.map(lambda _: model_store.fetch(version="v1", models_root=store), "ab"))
    assert {model.path for model in fetched} == {store / "v1"}
    assert [p.name for p in store.iterdir()] == ["v1"]

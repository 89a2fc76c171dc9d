"""The settings switch real services on from the environment; media lands in S3 for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.conftest import REPO, bucket_keys

PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "x" * 64 + "-production-like-secret-key-for-the-deploy-check",
    "DJANGO_DEBUG": "0",
    "DJANGO_ALLOWED_HOSTS": "birds.example.org",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://birds.example.org",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "1",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # The run's own service settings (scripts/test points them at PostgreSQL/S3) stay out.
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "BIRDSITE_", "AWS_", "DATABASE_", "REDIS_"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**clean, "DJANGO_SETTINGS_MODULE": "birdsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": ""}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in result.stderr


def test_settings_read_database_cache_and_s3_from_environment(tmp_path: Path):
    env = {
        **PRODUCTION_ENV,
        "DATABASE_URL": "postgres://birds:secret@db.internal:5432/birdsite",
        "REDIS_URL": "redis://127.0.0.1:6379/3",
        "AWS_STORAGE_BUCKET_NAME": "bird-photos",
        "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    }
    code = (
        "import json; from django.conf import settings as s;"
        "print(json.dumps([s.DATABASES['default']['ENGINE'], s.DATABASES['default']['HOST'],"
        " s.CACHES['default']['BACKEND'], s.STORAGES['default']['BACKEND'],"
        " s.STORAGES['default']['OPTIONS']['bucket_name']]))"
    )
    result = run_manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        "django.db.backends.postgresql",
        "db.internal",
        "django.core.cache.backends.redis.RedisCache",
        "core.storage.SharedModelS3Storage",
        "bird-photos",
    ]


def test_embedded_defaults_are_sqlite_local_files_and_local_memory(tmp_path: Path):
    env = {"DJANGO_DEBUG": "1", "BIRDSITE_DATA_DIR": str(tmp_path)}
    code = (
        "import json; from django.conf import settings as s;"
        "print(json.dumps([s.DATABASES['default']['ENGINE'], str(s.DATABASES['default']['NAME']),"
        " s.CACHES['default']['BACKEND'], s.STORAGES['default']['BACKEND'], str(s.MEDIA_ROOT)]))"
    )
    result = run_manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        "django.db.backends.sqlite3",
        str(tmp_path / "db.sqlite3"),
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.files.storage.FileSystemStorage",
        str(tmp_path / "media"),
    ]


def test_media_files_land_in_the_s3_bucket(s3_bucket, s3_client, bird_photo: Path):
    content = bird_photo.read_bytes()
    name = default_storage.save("checks/photo.jpg", ContentFile(content))
    assert name in bucket_keys(s3_client, s3_bucket)
    stored = s3_client.get_object(Bucket=s3_bucket, Key=name)["Body"].read()
    assert stored == content
    url = default_storage.url(name)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url  # private: presigned only
    default_storage.delete(name)
    assert name not in bucket_keys(s3_client, s3_bucket)

"""The deployment files agree with the app and with each other, checked without a Docker engine:
Dockerfile (hadolint, sources, requirement files, command), docker-compose.yml (docker-compose
config, the compose-spec schema, services and env names), .env.example (check --deploy) and the
Nginx template (nginx -t)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import REPO, which
from tests.deploy import files

# Where the app and the deploy scripts read environment variables.
ENV_READERS = [
    REPO / "birdsite" / "settings.py",
    REPO / "ml" / "config.py",
    REPO / "ml" / "threads.py",
    REPO / "ml" / "runtimes.py",
    REPO / "ml" / "agreement.py",
    *sorted(files.DEPLOY.glob("*.py")),
    *sorted(files.DEPLOY.glob("*.sh")),
]
APP_SERVICES = ("migrate", "web", "cleanup", "trainer")


def names_read_by_the_app() -> set[str]:
    pattern = re.compile(
        r"""(?:os\.environ(?:\.get)?|env_bool|env_int|env_list)\(?\s*\[?["'](\w+)["']"""
        r"""|\$\{(\w+)"""
        r"""|_ENV = ["'](\w+)["']"""
    )
    return {
        name
        for path in ENV_READERS
        for match in pattern.finditer(path.read_text())
        for name in match.groups()
        if name
    }


def dotenv_names(path: Path) -> set[str]:
    return {
        line.split("=", 1)[0]
        for line in path.read_text().splitlines()
        if line and not line.startswith("#")
    }


# --- Dockerfile --------------------------------------------------------------------------------


def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [str(hadolint), str(REPO / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_copy_sources_exist_and_reach_the_build_context() -> None:
    ignored = set(dotenv_names(REPO / ".dockerignore"))
    copies = [i for i in files.dockerfile() if i.keyword == "COPY" and "--from" not in i.args]
    assert copies
    for copy in copies:
        *sources, _destination = copy.args.split()
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such file"
            assert source.rstrip("/").split("/")[0] not in ignored, f"{source} is dockerignored"


def test_the_image_has_every_package_of_the_site_and_no_benchmarks() -> None:
    """A package the site needs but the image lacks would fail only when a container starts."""
    copied = {
        source.rstrip("/")
        for i in files.dockerfile()
        if i.stage == "source" and i.keyword == "COPY"  # the code both images get
        for source in i.args.split()[:-1]
    }
    our_apps = {app for app in settings.INSTALLED_APPS if (REPO / app / "apps.py").is_file()}
    assert our_apps == {"accounts", "classifier", "core"}
    assert our_apps | {"birdsite", "ml", "templates", "static", "deploy"} <= copied
    assert not copied & {"benchmarks", "tests"}


def pip_installs(stage: str) -> list[str]:
    instructions = files.dockerfile()
    chain = files.stage_chain(instructions, stage)
    return [
        i.args
        for i in instructions
        if i.stage in chain and i.keyword == "RUN" and "pip install" in i.args
    ]


def test_images_install_the_requirement_files_of_scripts_setup() -> None:
    setup = (REPO / "scripts" / "setup").read_text()
    assert '-r "requirements/$profile.txt" -c requirements/constraints.txt' in setup
    constrained = "-r requirements/{}.txt -c requirements/constraints.txt"
    # web: the serving requirements only (LiteRT, no TensorFlow), and the optional runtimes
    # unless the RUNTIMES build argument is emptied.
    assert [args for args in pip_installs("web") if "-r " in args] == [
        f"pip install --no-cache-dir {constrained.format('web')}",
        'if [ -n "$RUNTIMES" ]; then pip install --no-cache-dir -r "requirements/$RUNTIMES" '
        "-c requirements/constraints.txt; fi",
    ]
    arguments = [i.args for i in files.dockerfile() if i.keyword == "ARG"]
    assert "RUNTIMES=runtimes.txt" in arguments
    web_requirements = (REPO / "requirements" / "web.txt").read_text().lower().splitlines()
    assert not [line for line in web_requirements if "tensorflow" in line.split("#")[0]]
    # nor Spark (tune_model --spark, requirements/spark.txt) or the Java runtime it needs
    for name in ("web", "runtimes"):
        text = (REPO / "requirements" / f"{name}.txt").read_text().lower()
        assert "pyspark" not in text and "spark.txt" not in text
    instructions = files.dockerfile()
    web_stages = files.stage_chain(instructions, "web")
    web_runs = [i.args for i in instructions if i.stage in web_stages and i.keyword == "RUN"]
    assert not [args for args in web_runs if "jre" in args or "jdk" in args]
    # trainer: the pipeline on top of them.
    assert f"pip install --no-cache-dir {constrained.format('ml')}" in pip_installs("trainer")


def test_web_runs_gunicorn_with_the_deploy_config_and_has_a_healthcheck() -> None:
    command = files.image_command("web")
    assert command[0] == "gunicorn"
    assert command[command.index("--config") + 1] == "deploy/gunicorn.conf.py"
    assert command[-1] == "birdsite.wsgi:application"
    (healthcheck,) = [i for i in files.dockerfile() if i.keyword == "HEALTHCHECK"]
    assert healthcheck.stage == "web"
    assert healthcheck.exec_form() == ["python", "deploy/healthcheck.py"]
    # The trainer converts the backbone from the PyPI package while the image is built.
    trainer_runs = [
        i.args for i in files.dockerfile() if i.stage == "trainer" and i.keyword == "RUN"
    ]
    assert any("manage.py build_backbone" in args for args in trainer_runs)


def test_deploy_scripts_run_real_management_commands() -> None:
    from django.core.management import get_commands

    used = set()
    for path in [*files.DEPLOY.glob("*.sh"), files.COMPOSE_FILE, REPO / "Dockerfile"]:
        used |= set(re.findall(r"manage\.py[\"',\s]+(\w+)", path.read_text()))
    assert used >= {"migrate", "collectstatic", "cleanup_pending_photos", "setup_classifier"}
    assert used <= set(get_commands()), used - set(get_commands())


# --- docker-compose.yml ------------------------------------------------------------------------


def test_compose_file_is_valid() -> None:
    which("docker-compose")
    files.compose_config()  # docker-compose config: parses, interpolates, checks references
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("check-jsonschema")),
            "--builtin-schema",
            "vendor.compose-spec",
            str(files.COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_services_and_their_wiring() -> None:
    config = files.compose_config()
    services = config["services"]
    assert set(services) == {
        "db", "redis", "s3", "createbucket", "migrate", "web", "cleanup", "nginx", "trainer",
    }  # fmt: skip
    for name in ("db", "redis", "s3"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert services["web"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["web"]["depends_on"]["createbucket"]["condition"] == (
        "service_completed_successfully"
    )
    # web runs the image's command; the one-shot release step runs once before it.
    assert "command" not in services["web"]
    assert services["migrate"]["command"] == ["deploy/release.sh"]
    assert services["cleanup"]["command"] == ["deploy/cleanup-loop.sh"]
    assert services["trainer"]["profiles"] == ["trainer"]
    # the trainer's first run: the species first, or the new model would not be activated
    assert "command" not in services["trainer"]
    assert files.image_command("trainer") == ["deploy/train.sh"]
    steps = re.findall(r"manage\.py (\w+)", (files.DEPLOY / "train.sh").read_text())
    assert steps == ["load_species", "setup_classifier"]
    assert services["trainer"]["build"]["target"] == "trainer"
    assert services["web"]["build"]["target"] == "web"
    assert set(config["volumes"]) == {"pgdata", "s3data", "static", "models", "features"}
    mounts = {
        name: [
            v["target"] if isinstance(v, dict) else v.split(":")[1] for v in s.get("volumes", [])
        ]
        for name, s in services.items()
    }
    assert "/srv/static" in mounts["migrate"] and "/srv/static" in mounts["nginx"]
    assert "/srv/birdsite/models" in mounts["trainer"]
    assert "/etc/nginx/templates/default.conf.template" in mounts["nginx"]
    assert services["migrate"]["environment"]["DJANGO_STATIC_ROOT"] == "/srv/static"


def test_web_scales_out_on_the_model_store() -> None:
    """`--scale web=N`: nothing a replica cannot share (a name, a published port, a disk), the
    models from the bucket, and Nginx's upstream over every replica of the service."""
    config = files.compose_config(env={"WEB_REPLICAS": "3"})
    web = config["services"]["web"]
    assert web["deploy"]["replicas"] == 3
    assert "container_name" not in web and "ports" not in web
    assert web["environment"]["BIRDSITE_MODEL_STORE"] == "s3"
    assert not [v for v in web.get("volumes", []) if "models" in str(v)]
    upstream = config["services"]["nginx"]["environment"]["NGINX_UPSTREAM_SERVERS"]
    assert upstream == "server web:8000;"
    assert files.compose_config()["services"]["web"]["deploy"]["replicas"] == 1


def test_nginx_body_limit_matches_the_app_upload_limit() -> None:
    services = files.compose_config()["services"]
    upload_limit = int(services["web"]["environment"]["BIRDSITE_MAX_UPLOAD_BYTES"])
    # The app's own limit on a request body (settings.DATA_UPLOAD_MAX_MEMORY_SIZE).
    assert int(services["nginx"]["environment"]["NGINX_CLIENT_MAX_BODY_SIZE"]) == (
        upload_limit + 1024 * 1024
    )


def test_env_names_are_the_ones_the_app_reads() -> None:
    config = files.compose_config()
    read = names_read_by_the_app()
    for service in APP_SERVICES:
        unknown = set(config["services"][service]["environment"]) - read
        assert not unknown, f"{service} sets names nothing reads: {unknown}"
    # Every NGINX_* name of the template is set, and nothing else of that kind.
    nginx_env = set(config["services"]["nginx"]["environment"]) - {"NGINX_ENVSUBST_FILTER"}
    assert nginx_env == files.template_variables()
    # .env.example sets what compose interpolates, no more; what it must set has no default.
    compose_text = files.COMPOSE_FILE.read_text()
    interpolated = set(re.findall(r"\$\{(\w+)", compose_text))
    required = set(re.findall(r"\$\{(\w+)(?::\?|\})", compose_text))
    example = dotenv_names(files.ENV_EXAMPLE)
    assert example <= interpolated, example - interpolated
    assert required <= example, required - example


def test_check_deploy_is_clean_with_the_compose_env() -> None:
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        **{k: str(v) for k, v in files.compose_config()["services"]["web"]["environment"].items()},
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- Nginx template ----------------------------------------------------------------------------


def test_rendered_nginx_conf_passes_nginx_t(tmp_path: Path) -> None:
    conf = files.local_nginx(
        tmp_path,
        http_port=8080,
        https_port=8443,
        upstreams=["127.0.0.1:8000", "127.0.0.1:8001"],
        s3_upstream="127.0.0.1:9000",
        static_root=tmp_path / "static",
    )
    text = (tmp_path / "birdsite.conf").read_text()
    assert "${" not in text  # every placeholder filled, and nginx's own $variables kept
    assert "$request_uri" in text and "$http_host" in text
    result = subprocess.run(
        [which("nginx"), "-t", "-p", str(tmp_path), "-c", str(conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("header", ["X-Forwarded-Proto", "Host", "X-Forwarded-For", "X-Request-ID"])
def test_nginx_sets_the_proxy_headers_django_trusts(header: str) -> None:
    assert re.search(rf"proxy_set_header {header} \$\w+;", files.NGINX_TEMPLATE.read_text())

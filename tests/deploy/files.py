"""The deployment files read as data, so the tests run exactly what the image and compose run."""

from __future__ import annotations

import datetime
import getpass
import ipaddress
import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import REPO

DEPLOY = REPO / "deploy"
NGINX_TEMPLATE = DEPLOY / "nginx.conf.template"
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"


@dataclass
class Instruction:
    stage: str  # the `AS` name of the stage it belongs to
    keyword: str  # upper-case: FROM, RUN, COPY, CMD...
    args: str

    def exec_form(self) -> list[str]:
        """The JSON array of CMD/ENTRYPOINT (after any HEALTHCHECK options)."""
        return json.loads(self.args[self.args.index("[") :])


def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    instructions: list[Instruction] = []
    stage = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage = args.split()[-1]
        instructions.append(Instruction(stage, keyword, " ".join(args.split())))
    return instructions


def stage_chain(instructions: list[Instruction], stage: str) -> list[str]:
    """`stage` and the stages it is built FROM, the stage itself first."""
    bases = {i.stage: i.args.split()[0] for i in instructions if i.keyword == "FROM"}
    chain = [stage]
    while bases.get(chain[-1]) in bases:
        chain.append(bases[chain[-1]])
    return chain


def image_command(stage: str) -> list[str]:
    """An image's command line (its CMD), as the smoke test runs the web one."""
    (cmd,) = [i for i in dockerfile() if i.stage == stage and i.keyword == "CMD"]
    return cmd.exec_form()


def compose_source() -> dict:
    """docker-compose.yml as written (anchors merged), without the ${...} interpolation."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose_config(env_file: Path = ENV_EXAMPLE, env: dict[str, str] | None = None) -> dict:
    """The compose file resolved by `docker-compose config` with the values of `env_file`, and
    of `env` over them (as a shell's variables would be)."""
    result = subprocess.run(
        ["docker-compose", "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"],
        # Variables of the calling shell would win over the file's: pass none of them.
        env={"PATH": os.environ["PATH"], **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def template_variables() -> set[str]:
    return set(re.findall(r"\$\{(NGINX_\w+)\}", NGINX_TEMPLATE.read_text()))


def render_nginx_template(values: dict[str, str]) -> str:
    """envsubst over the template with only the NGINX_* names, as the nginx image does."""
    names = " ".join(f"${{{name}}}" for name in sorted(values))
    return subprocess.run(
        ["envsubst", names],
        input=NGINX_TEMPLATE.read_text(),
        env=values,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def nginx_main_conf(prefix: Path, server_conf: Path) -> str:
    """The official nginx image's nginx.conf around our rendered conf, with every path under
    `prefix` so an unprivileged nginx can run next to anything else."""
    temp_paths = "\n".join(
        f"    {kind}_temp_path {prefix / 'temp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
user {shlex.quote(getpass.getuser())};
worker_processes 2;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} notice;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix / "access.log"};
    sendfile on;
    keepalive_timeout 65;
{temp_paths}
    include {server_conf};
}}
"""


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throw-away certificate for `host` (an IP address), made at test time."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def local_nginx(
    prefix: Path,
    *,
    http_port: int,
    https_port: int,
    upstreams: list[str],
    s3_upstream: str,
    static_root: Path,
) -> Path:
    """Render the template for an nginx on this machine, the way compose does; returns nginx.conf.

    The values are compose's nginx environment with the addresses and paths of this machine;
    `upstreams` are the gunicorns' host:port.
    """
    cert, key = self_signed_certificate(prefix / "tls")
    values = {
        **{
            name: str(value)
            for name, value in compose_config()["services"]["nginx"]["environment"].items()
            if name in template_variables()
        },
        "NGINX_SERVER_NAME": "127.0.0.1",
        "NGINX_S3_SERVER_NAME": "s3.localhost",
        "NGINX_HTTP_PORT": str(http_port),
        "NGINX_HTTPS_PORT": str(https_port),
        "NGINX_HTTPS_PUBLIC_PORT": str(https_port),
        "NGINX_SSL_CERTIFICATE": str(cert),
        "NGINX_SSL_CERTIFICATE_KEY": str(key),
        "NGINX_ACME_ROOT": str(prefix / "acme"),
        "NGINX_STATIC_ROOT": str(static_root),
        "NGINX_UPSTREAM_SERVERS": " ".join(f"server {address};" for address in upstreams),
        "NGINX_S3_UPSTREAM": s3_upstream,
    }
    assert set(values) == template_variables()
    (prefix / "temp").mkdir(parents=True, exist_ok=True)
    server_conf = prefix / "birdsite.conf"
    server_conf.write_text(render_nginx_template(values))
    main_conf = prefix / "nginx.conf"
    main_conf.write_text(nginx_main_conf(prefix, server_conf))
    return main_conf

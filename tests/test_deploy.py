"""What docs/deploy.md says was tried: the web and worker processes over a managed-style Redis with
TLS and a password (`rediss://`, a self-signed CA), and the systemd units' shape.

The TLS test needs a redis-server built with TLS (Debian's is); with one that is not, it skips and
says so."""

from __future__ import annotations

import configparser
import datetime
import ipaddress
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis as redis_sync
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bot.config import load_settings
from bot.sandbox import redis_server
from bot.sandbox.github import GitHubSandbox
from bot.worker.settings import redis_settings
from tests.helpers import (
    HOOK,
    MERGED,
    PR_NUMBER,
    PR_REPO,
    ROOT,
    Processes,
    delivery_headers,
    healthy,
    seed_merged_pr,
    wait_until,
)

PASSWORD = "managed-redis-password"
SYSTEMD = ROOT / "docs" / "systemd"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    encoding, private = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    return key.private_bytes(encoding, private, serialization.NoEncryption())


def self_signed_ca_and_server(directory: Path) -> tuple[Path, Path, Path]:
    """A CA of its own and a server certificate for 127.0.0.1 it signed, as a managed Redis has."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, server_key = _key(), _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hookwise test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    server = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(server_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem(server_key))
    return paths


@pytest.fixture
def tls_redis_url(tmp_path: Path) -> Iterator[str]:
    """A redis-server speaking only TLS, with a password; its `rediss://` URL naming the CA."""
    ca, cert, key = self_signed_ca_and_server(tmp_path)
    binary = shutil.which("redis-server") or redis_server.server_binary()
    port = redis_server.free_port()
    log = tmp_path / "redis.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca),
                "--tls-auth-clients", "no", "--requirepass", PASSWORD, "--save", "", "--appendonly", "no",
                "--dir", str(tmp_path),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    client = redis_sync.Redis(host="127.0.0.1", port=port, password=PASSWORD, ssl=True, ssl_ca_certs=str(ca))
    deadline = time.monotonic() + 10
    try:
        while True:
            if process.poll() is not None:
                last = log.read_text(errors="replace").strip().splitlines()[-1:]
                pytest.skip(f"{binary} cannot serve TLS (built without it?): {last}")
            try:
                if client.ping():
                    break
            except (redis_sync.RedisError, OSError):
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)  # waiting for a server process to start; nothing in this process to wait on
        yield f"rediss://:{PASSWORD}@127.0.0.1:{port}/0?ssl_ca_certs={ca}"
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


async def test_web_and_worker_over_rediss_with_a_self_signed_ca(
    processes: Processes, github: GitHubSandbox, tls_redis_url: str
) -> None:
    seed_merged_pr(github)
    processes.env["REDIS_URL"] = tls_redis_url
    web = processes.start("web", "web")
    worker = processes.start("worker", "worker")
    base = f"http://127.0.0.1:{processes.env['PORT']}"
    async with aiohttp.ClientSession() as session:
        await wait_until(lambda: healthy(session, f"{base}/readyz"), "the web process to reach Redis over TLS", 30)
        headers = delivery_headers("pull_request", MERGED, "over-tls")
        async with session.post(f"{base}{HOOK}", data=MERGED, headers=headers) as response:
            assert response.status == 202
    await wait_until(lambda: bool(github.comments(PR_REPO, PR_NUMBER)), "the worker's summary, over TLS", 60)
    for process in (web, worker):
        process.send_signal(signal.SIGTERM)
        await wait_until(lambda p=process: p.poll() is not None, "exit after SIGTERM", limit_s=30)
    assert "Redis unavailable" not in processes.log("worker")
    assert PASSWORD not in processes.log("web") + processes.log("worker")


def test_the_worker_keeps_the_tls_options_of_a_rediss_url() -> None:
    url = "rediss://:pw@cache.example.net:6380/2?ssl_cert_reqs=none&ssl_ca_certs=/etc/ca.pem&ssl_check_hostname=true"
    options = redis_settings(url)
    assert (options.host, options.port, options.database, options.password, options.ssl) == (
        "cache.example.net", 6380, 2, "pw", True
    )  # fmt: skip
    assert (options.ssl_cert_reqs, options.ssl_ca_certs, options.ssl_check_hostname) == ("none", "/etc/ca.pem", True)
    plain = redis_settings("redis://localhost:6379")
    assert (plain.ssl, plain.ssl_cert_reqs, plain.ssl_ca_certs) == (False, "required", None)
    assert load_settings(REDIS_URL=url).REDIS_URL == url


@pytest.mark.parametrize(("name", "command", "stop_s"), [("web", "web", 20), ("worker", "worker", 30)])
def test_the_systemd_units_run_the_procfile_commands_and_restart(name: str, command: str, stop_s: int) -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    unit.read(SYSTEMD / f"hookwise-{name}.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith(f"/bin/python -m bot {command}")
    assert f"{command}: python -m bot {command}" in (ROOT / "Procfile").read_text()
    assert service["EnvironmentFile"].startswith("/etc/hookwise/")
    assert service["Restart"] == "always" and service["RestartPreventExitStatus"] == "2"  # a bad setting: stop
    assert int(service["TimeoutStopSec"].removesuffix("s")) > stop_s  # the contract's SIGTERM deadline, then some
    assert unit["Install"]["WantedBy"] == "multi-user.target"

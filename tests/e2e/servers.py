"""Real servers for end-to-end checks: `prefect server`, `mlflow server`, headless Chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(tmp: Path, api_url: str) -> dict[str, str]:
    """This process's environment without Prefect/Lifeline settings, pointed at our server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LIFELINE_"))}
    return env | {
        "PREFECT_HOME": str(tmp / "prefect-home"),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": api_url,  # the UI calls the API on our port, not 4200
        "LIFELINE_HOME": str(tmp / "never-used"),  # a run must use the job's LIFELINE_HOME
    }


def wait_healthy(url: str, server: subprocess.Popen, deadline_s: float = 240) -> None:
    """Poll URL until it answers 200 (or the server died, or our deadline passed)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert server.poll() is None, f"server for {url} exited during start-up"
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} not healthy after {deadline_s} s")


@contextlib.contextmanager
def running(
    command: list[str], env: dict, log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen]:
    """A process (and its children) alive until the block ends; its output goes to LOG."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def serving(command: list[str], env: dict, health_url: str, log: Path) -> Iterator[None]:
    """Run a server process until the block ends, once it answers HEALTH_URL."""
    with running(command, env, log) as proc:
        wait_healthy(health_url, proc)
        yield


@contextlib.contextmanager
def prefect_server(tmp: Path) -> Iterator[dict[str, str]]:
    """`prefect server start` (API and UI) on a free port; yields the client environment."""
    port = free_port()
    env = clean_env(tmp, f"http://127.0.0.1:{port}/api")
    command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with serving(command, env, f"{env['PREFECT_API_URL']}/health", tmp / "prefect-server.log"):
        yield env


@contextlib.contextmanager
def mlflow_server(tmp: Path, env: dict) -> Iterator[str]:
    """`mlflow server` on sqlite with proxied artifacts on a free port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        *(str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)),
        *("--backend-store-uri", f"sqlite:///{tmp / 'mlflow-server.db'}"),
        *("--artifacts-destination", str(tmp / "mlflow-artifacts"), "--workers", "1"),
    ]
    with serving(command, env, f"{url}/health", tmp / "mlflow-server.log"):
        yield url


def chromium() -> str | None:
    """The headless browser (Debian's `chromium` package), if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browse(url: str, screenshot: Path | None = None, size: str = "1400,3000") -> str:
    """Load URL in headless Chromium until the page settles; its DOM (and a screenshot)."""
    flags = [
        *(chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"),
        *(f"--window-size={size}", "--virtual-time-budget=20000"),
    ]
    if screenshot is not None:
        subprocess.run([*flags, f"--screenshot={screenshot}", url], capture_output=True, check=True)
    return subprocess.run(
        [*flags, "--dump-dom", url], capture_output=True, text=True, check=True, timeout=120
    ).stdout


def prefect(env: dict, *args: str, cwd: Path = ROOT, timeout: int = 300) -> str:
    """Run the prefect CLI non-interactively; fail the test with its output if it fails."""
    done = subprocess.run(
        [str(BIN / "prefect"), "--no-prompt", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@contextlib.contextmanager
def moto_s3_server(tmp: Path, env: dict) -> Iterator[str]:
    """moto's S3 as a server on a free port (the landing bucket's stand-in); yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with serving(command, env, f"{url}/moto-api/", tmp / "moto-server.log"):
        yield url


@contextlib.contextmanager
def worker(env: dict, pool: str, cwd: Path, log: Path) -> Iterator[None]:
    """A long-running `prefect worker` on POOL in its own folder, polling every second."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = env | {"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5"}
    command = [str(BIN / "prefect"), "worker", "start", "--pool", pool, "--name", pool]
    with running(command, env, log, cwd):
        yield


def create_work_pools(env: dict, process_pools: list[str], ecs_pool: str) -> None:
    """Process pools and an ECS pool from the committed base job templates."""
    for pool, kind in [(p, "process") for p in process_pools] + [(ecs_pool, "ecs")]:
        prefect(
            env,
            *("work-pool", "create", pool, "--type", kind),
            *("--base-job-template", f"deployments/{kind}-base-job-template.json"),
        )


def save_results_block(env: dict, name: str, folder: Path) -> None:
    """A LocalFileSystem block the deployments' PREFECT_DEFAULT_RESULT_STORAGE_BLOCK names."""
    block = (
        "from prefect.filesystems import LocalFileSystem; import sys; "
        "LocalFileSystem(basepath=sys.argv[1]).save(sys.argv[2], overwrite=True)"
    )
    subprocess.run(
        [sys.executable, "-c", block, str(folder), name], env=env, check=True, timeout=120
    )

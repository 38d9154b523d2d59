"""Operations of a real `shop serve`: one scrape of /metrics sums every worker and is guarded;
PUBLIC_URL follows the port; a database that does not exist is one line and exit code 2."""

from __future__ import annotations

import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.ops.test_metrics_guard import TOKEN
from tests.support.problems import assert_problem
from tests.support.serve import ShopServer, shop_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

LIVE = 'shop_http_requests_total{method="GET",route="/health/live",status="200"}'


def counted(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(LIVE + " "):
            return float(line.split()[-1])
    return 0.0


def per_worker(metrics_dir: Path) -> dict[str, float]:
    """What each worker process wrote into its own counter file: pid → /health/live count."""
    found: dict[str, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = path.stem.split("_", 1)[1]
        for _key, labels_json, value, _ts in _values(path):
            if "shop_http_requests_total" in labels_json and '"/health/live"' in labels_json:
                found[pid] = found.get(pid, 0.0) + value
    return found


def _values(path: Path) -> list[tuple[str, str, float, float]]:
    return [(key, key, value, ts) for key, value, ts, _pos in MmapedDict.read_all_values_from_file(str(path))]


def live(base: str) -> int:
    # A connection of its own each time: the kernel hands each to either worker.
    return httpx.get(f"{base}/health/live", headers={"Connection": "close"}, timeout=10).status_code


def test_one_scrape_sums_both_workers_and_is_guarded(tmp_path: Path, empty_database: str) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # A file an earlier run left behind must not be counted again.
    stale = metrics_dir / "counter_99999999.db"
    stale.write_bytes(b"\0" * 4096)
    server = ShopServer(
        tmp_path / "data",
        "--workers",
        "2",
        newcomer=True,
        DATABASE_URL=empty_database,
        METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    ).start_ready()
    base = server.url
    try:
        assert not stale.exists()
        headers = {"Authorization": f"Bearer {TOKEN}"}

        assert_problem(httpx.get(f"{base}/metrics", timeout=10), 401, "not_authenticated")
        assert_problem(
            httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10),
            401,
            "token_invalid",
        )

        sent = 0
        with ThreadPoolExecutor(8) as pool:
            while sent < 400:
                assert set(pool.map(live, [base] * 40)) == {200}
                sent += 40
                if len([n for n in per_worker(metrics_dir).values() if n > 0]) >= 2:
                    break

        # A worker writes the metrics of the requests it answered at the end of that turn of its
        # event loop: a moment after the answers, every one is counted, once.
        def all_counted() -> dict[str, float]:
            found = per_worker(metrics_dir)
            return found if sum(found.values()) >= sent else {}

        workers = wait_until(
            all_counted, lambda: f"{sent} requests in the workers' files: {per_worker(metrics_dir)}", 10
        )
        assert len([n for n in workers.values() if n > 0]) == 2, workers  # both workers served some
        assert sum(workers.values()) == sent
        # Whichever worker answers the scrape, it counts every request of the instance.
        for _ in range(6):
            scraped = httpx.get(f"{base}/metrics", headers={**headers, "Connection": "close"}, timeout=10)
            assert scraped.status_code == 200
            assert counted(scraped.text) == sent
            assert "process_resident_memory_bytes" in scraped.text
            # Ages computed at scrape time are there too (a set_function gauge would not be).
            ages = [
                row
                for row in scraped.text.splitlines()
                if row.startswith("shop_exchange_rate_newest_age_seconds")
            ]
            assert [row.split()[0] for row in ages] == ["shop_exchange_rate_newest_age_seconds"], ages

        # PUBLIC_URL is unset: links and the issuer follow the port.
        metadata = httpx.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
        assert metadata["issuer"] == f"http://localhost:{server.port}"
    finally:
        code, output = server.stop(), server.output()
    assert code == 0, output
    assert "color_message" not in output and "\x1b[" not in output
    # Alembic says what it migrates, and nothing else (no plugins, dialect, DDL mode at every start).
    alembic = [line for line in output.splitlines() if '"logger": "alembic' in line]
    assert alembic and all('"message": "Running upgrade' in line for line in alembic), alembic


@pytest.mark.parametrize("command", [["migrate"], ["serve", "--port", "0"]])
def test_a_database_that_does_not_exist_is_one_line(
    tmp_path: Path, server_url: str, command: list[str]
) -> None:
    missing = server_url.rsplit("/", 1)[0] + f"/shop_missing_{secrets.token_hex(4)}"
    result = subprocess.run(
        [sys.executable, "-m", "shop", *command],
        env=shop_env(tmp_path / "data", newcomer=True, DATABASE_URL=missing, JWT_SECRET_KEY="k" * 40),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "does not exist" in lines[0] and "DATABASE_URL" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr

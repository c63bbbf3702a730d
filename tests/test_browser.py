"""The real thing: `streamlit run app.py` driven by headless Chromium (Playwright, Debian's browser).

Upload an xlsx through the uploader, confirm the import, open the vendor page,
see a Plotly chart with that vendor's data, switch presentation mode on, and
keep screenshots under the test's tmp_path. Skipped when chromium is missing,
except in CI (env CI set), where a missing browser fails the test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import openpyxl
import pytest
from demo_store import demo_copy

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VENDOR = "Orion Outsourcing"


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; CI must run the browser test (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(port: int, proc: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"streamlit did not answer on port {port}: {log.read_text()[-2000:]}")


@pytest.fixture
def server(tmp_path):
    """A streamlit server on the demo store, stopped by its own process id."""
    db = demo_copy(tmp_path / "browser.duckdb")
    port = _free_port()
    log = tmp_path / "streamlit.log"
    env = dict(os.environ, RMDASH_DB=str(db), PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    cmd += [
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(port, proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _export(path: Path) -> Path:
    """A ticket export of a new vendor, the way a service desk tool writes it."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Tickets"
    ws.append(
        [
            "Ticket ID",
            "Supplier",
            "Relationship Manager",
            "Type",
            "Priority",
            "Opened",
            "Responded",
            "Escalated",
        ]
    )
    for i in range(40):
        day = 1 + i % 28
        late = i % 5 == 0
        responded = f"2026-10-{day:02d} {'15' if late else '09'}:20"
        ws.append(
            [
                f"OR-{i:03d}",
                VENDOR,
                "Ines Moreau",
                "Incident",
                "P2",
                f"2026-10-{day:02d} 09:00",
                responded,
                "no",
            ]
        )
    wb.save(path)
    return path


def _settle(page) -> None:
    """Wait until the app has finished its rerun."""
    page.wait_for_timeout(500)
    page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=60_000)
    page.wait_for_timeout(500)


def test_upload_then_vendor_page_then_presentation_mode_in_a_real_browser(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    chromium = _chromium()
    export = _export(tmp_path / "orion-tickets.xlsx")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.goto(f"{server}/upload")
            page.wait_for_selector("[data-testid='stFileUploader']", timeout=60_000)
            page.set_input_files("[data-testid='stFileUploader'] input[type=file]", str(export))
            expect(page.get_by_text("Rows accepted")).to_be_visible(timeout=60_000)
            expect(page.get_by_text("orion-tickets.xlsx").first).to_be_visible()
            page.screenshot(path=tmp_path / "1-upload-preview.png", full_page=True)

            page.get_by_role("button", name="Import 1 file(s)").click()
            expect(page.get_by_text("Imported. Every page now shows the new data.")).to_be_visible(
                timeout=60_000
            )
            page.screenshot(path=tmp_path / "2-imported.png", full_page=True)

            page.goto(f"{server}/vendor?focus={VENDOR.replace(' ', '+')}")
            chart = page.locator("[data-testid='stPlotlyChart']").first
            expect(chart).to_be_visible(timeout=60_000)
            expect(chart.locator(".gtitle")).to_have_text(f"{VENDOR}: composite RM KPI", timeout=30_000)
            expect(chart.locator(".scatterlayer .trace")).to_have_count(1)
            expect(page.get_by_role("heading", name=f"{VENDOR}:")).to_be_visible()
            _settle(page)
            page.screenshot(path=tmp_path / "3-vendor.png", full_page=True)

            page.get_by_text("Presentation mode").click()
            expect(page.locator("[data-testid='stSidebar']")).to_be_hidden(timeout=30_000)
            page.wait_for_url("**present=1**", timeout=30_000)
            assert f"focus={VENDOR.replace(' ', '+')}" in page.url
            expect(page.locator("[data-testid='stPlotlyChart']").first).to_be_visible(timeout=30_000)
            expect(page.get_by_role("navigation", name="App pages").get_by_text("Data")).to_have_count(0)
            _settle(page)
            page.screenshot(path=tmp_path / "4-vendor-presentation.png", full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "4-vendor-presentation.png").stat().st_size > 10_000

"""The network plan as a person sees it: `dagster dev` on 127.0.0.1 with a temporary instance and
warehouse, the plan (and everything upstream) materialized on the sample region through the UI's
GraphQL launch, and its asset page opened in headless Chromium (Debian's `chromium`, driven by
Playwright's Python package). The inline map must be an image that the browser decoded, and the
summary table must show rounded values."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import pytest
from dagster import AssetSelection

from evcharge_pipeline_tests.dagster_ui import dagster_dev

pytestmark = pytest.mark.slow

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
RUN_CONFIG = {"ops": {"network_plan": {"config": {"time_limit_seconds": 30}}}}


def chromium_path() -> str:
    found = os.environ.get("EVCHARGE_CHROMIUM") or next(
        (path for path in map(shutil.which, CHROMIUM_CANDIDATES) if path), None)
    if not found:
        pytest.skip("no chromium binary (Debian: apt-get install chromium; `make services` does it as root)")
    return found


def network_plan_and_upstream() -> list[str]:
    from evcharge_pipeline.definitions import defs

    keys = AssetSelection.assets("network_plan").upstream().resolve(defs.resolve_asset_graph())
    return sorted(key.to_user_string() for key in keys)


def metadata_row(page, key: str):
    """The row of the asset page's metadata table whose key cell is `key`."""
    return page.locator("tr").filter(has=page.locator("td").first.filter(has_text=re.compile(f"^{key}$")))


def test_network_plan_page_shows_the_map_inline_and_a_rounded_summary(tmp_path: Path, sample_region: Path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
    executable = chromium_path()
    with dagster_dev(tmp_path, sample_region) as dev:
        run = dev.wait_for_run(dev.launch_assets(*network_plan_and_upstream(), run_config=RUN_CONFIG), seconds=900)
        assert run["status"] == "SUCCESS", dev.log_tail()
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{dev.url}/assets/network_plan", wait_until="domcontentloaded")
                skip = page.get_by_role("button", name="Skip")   # first-visit newsletter dialog
                with contextlib.suppress(sync_api.TimeoutError):
                    skip.click(timeout=15_000)

                summary = metadata_row(page, "summary")
                summary.wait_for(timeout=60_000)
                cells = summary.locator("table td").all_inner_texts()
                figures = dict(zip(cells[0::2], cells[1::2], strict=True))
                assert figures.get("status") in ("optimal", "time_limit"), figures
                assert re.fullmatch(r"\d{1,3}\.\d %", figures["ev_within_l3_radius_after (%)"]), figures
                assert re.fullmatch(r"\d{1,3}(,\d{3})* CAD", figures["capex_total_cad"]), figures
                assert re.fullmatch(r"\d+\.\d", figures["solve_seconds"]), figures
                assert not any(re.search(r"\d\.\d{5,}", value) for value in figures.values()), figures

                metadata_row(page, "plan_map").get_by_text("[Show Markdown]").click()
                image = page.locator('.bp5-dialog img[src^="data:image/png;base64,"]')
                image.wait_for(timeout=30_000)
                page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(),
                                       timeout=30_000)
                width, height = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
                assert width > 300 and height > 300, (width, height)
                page.wait_for_timeout(1500)   # the dialog's opening transition, for the screenshot only
                page.screenshot(path=str(tmp_path / "network_plan_page.png"))
            finally:
                browser.close()
    assert (tmp_path / "network_plan_page.png").stat().st_size > 10_000

"""The Reports page in a real Chromium: prepare the model version report, watch the progress, and download the
PDF and the audit pack as a user would; the files are then read back (pdftotext, verify-pack)."""

from __future__ import annotations

import subprocess
import zipfile

from governance.reports import audit_pack
from tests.browser.conftest import ARTIFACTS, assert_no_failure, open_and_settle, settle


def test_prepare_preview_and_download_the_model_report(page, server, tmp_path):
    open_and_settle(page, f"{server.url}/reports", "Reports")
    main = page.get_by_test_id("stMain")
    page.get_by_role("button", name="Prepare the report").click()
    page.get_by_test_id("stProgress").wait_for(timeout=30_000)    # the bar shows while it renders
    download_pdf = page.get_by_role("button", name="Download PDF")
    download_pdf.wait_for(timeout=90_000)
    settle(page)
    assert_no_failure(page)
    report_id = main.get_by_test_id("stMetric").first.inner_text().split("\n")[-1]
    assert report_id.startswith("adult-income-v2-")   # the newest version is offered first
    preview = page.frame_locator("iframe").first
    preview.get_by_role("heading", name="Model version report").wait_for(timeout=30_000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reports-prepared.png"), full_page=True)

    with page.expect_download() as pdf_download:
        download_pdf.click()
    pdf = tmp_path / pdf_download.value.suggested_filename
    pdf_download.value.save_as(pdf)
    assert pdf.name == f"{report_id}.pdf" and pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Model version report" in text and report_id in text

    with page.expect_download() as pack_download:
        page.get_by_role("button", name="Download Audit pack (zip)").click()
    pack = tmp_path / pack_download.value.suggested_filename
    pack_download.value.save_as(pack)
    checked = audit_pack.verify_pack(pack.read_bytes())
    assert checked["ok"] and checked["report_id"] == report_id
    assert "tables/fairness_groups.csv" in zipfile.ZipFile(pack).namelist()

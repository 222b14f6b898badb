"""What a newcomer notices in their clone (issue 20): files a workspace puts beside itself are git-ignored, the tests
write their pictures outside the tracked tree, and the pages use no Streamlit API past its removal date."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not (ROOT / ".git").exists() or shutil.which("git") is None,
                                reason="needs the git checkout")


@pytest.mark.parametrize("path", [
    "data/quorum.duckdb", "data/quorum.duckdb.wal", "data/quorum.duckdb.anchor", "data/quorum.duckdb.server.json",
    "data/quorum.duckdb.sandbox-12.duckdb", "data/quorum.inbox/x.parquet", "artifacts/browser/overview.png"])
def test_what_the_app_and_the_tests_write_is_git_ignored(path):
    ignored = subprocess.run(["git", "check-ignore", "--quiet", "--no-index", path], cwd=ROOT)
    assert ignored.returncode == 0, f"{path} would show up in git status"


def test_the_browser_tests_refresh_the_readme_picture_only_when_asked(monkeypatch):
    from tests.browser import test_pages_in_browser as pages

    monkeypatch.delenv(pages.REFRESH_README_PICTURE, raising=False)
    assert pages.readme_picture() is None
    monkeypatch.setenv(pages.REFRESH_README_PICTURE, "1")
    assert pages.readme_picture() == ROOT / "docs" / "screenshots" / "overview.png"
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", "docs/screenshots/overview.png"], cwd=ROOT,
                             capture_output=True)
    assert tracked.returncode == 0


def test_no_page_uses_streamlit_components_v1():
    """st.components.v1.html and .iframe are deprecated (removal after 2026-06-01): st.iframe replaces them."""
    sources = [ROOT / "app.py", ROOT / "server.py", *(ROOT / "pages").glob("*.py"),
               *(ROOT / "components").glob("*.py")]
    users = [p.relative_to(ROOT).as_posix() for p in sources
             if re.search(r"streamlit\.components\.v1|components\.v1\.(html|iframe)", p.read_text())]
    assert users == []

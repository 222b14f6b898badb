"""The page registry: app.py builds the navigation from it and the tests run every page in it."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    section: str


PAGES = (
    PageSpec("pages/overview.py", "Overview", ":material/dashboard:", "Home"),
    PageSpec("pages/kpis.py", "KPIs", ":material/speed:", "Monitoring"),
    PageSpec("pages/compare.py", "A/B comparison", ":material/compare_arrows:", "Monitoring"),
    PageSpec("pages/drift.py", "Drift", ":material/trending_up:", "Monitoring"),
    PageSpec("pages/alerts.py", "Alerts", ":material/notifications:", "Monitoring"),
    PageSpec("pages/explore.py", "Explore", ":material/query_stats:", "Monitoring"),
    PageSpec("pages/fairness.py", "Fairness", ":material/balance:", "Responsible AI"),
    PageSpec("pages/explanations.py", "Explanations", ":material/lightbulb:", "Responsible AI"),
    PageSpec("pages/risks.py", "Risks", ":material/warning:", "Governance"),
    PageSpec("pages/signoffs.py", "Sign-offs", ":material/verified:", "Governance"),
    PageSpec("pages/reports.py", "Reports", ":material/description:", "Governance"),
    PageSpec("pages/admin.py", "Admin", ":material/settings:", "Workspace"),
)


def url_path(page: PageSpec) -> str:
    """The address Streamlit gives a page file: its name without the extension."""
    return page.path.rsplit("/", 1)[-1].removesuffix(".py")


def page_for_link(link: str) -> tuple[str, dict[str, str]] | None:
    """The page file and query of a Quorum link such as "kpis?model=churn" (as alerts carry), or None."""
    parts = urlsplit(link)
    name = parts.path.strip("/")
    page = next((p for p in PAGES if url_path(p) == name), None)
    return None if page is None else (page.path, dict(parse_qsl(parts.query)))

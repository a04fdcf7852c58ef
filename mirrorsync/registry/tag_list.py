"""A repository's tags, page by page, bounded (``limits.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urljoin

import httpx

from . import limits
from ..errors import RegistryError

if TYPE_CHECKING:
    from .connection import RegistryConnection


def list_tags(conn: RegistryConnection, repo: str, page_size: int) -> list[str]:
    """Every tag of ``repo``, sorted: pages of ``page_size`` tags, following each page's ``Link`` to the next, or
    asking from the ``last`` tag where a full page links nowhere. Bounded: at most ``limits.MAX_TAGS`` tags in
    ``limits.MAX_TAG_PAGES`` pages (each at most ``limits.TAGS_PAGE_BODY``), and a page seen twice is an error."""
    what = f"listing tags of {conn.host}/{repo}"
    first = conn.url_of(f"/v2/{repo}/tags/list?n={page_size}")
    tags: set[str] = set()
    url: str | None = first
    seen: set[str] = set()
    while url:
        if url in seen:
            raise RegistryError(f"{what}: the registry links back to a page already read ({_no_query(url)})")
        if len(seen) >= limits.MAX_TAG_PAGES:
            raise RegistryError(f"{what}: more than {limits.MAX_TAG_PAGES} pages, the most mirrorsync reads")
        seen.add(url)
        current = url
        response = conn.retrying(lambda: conn.send("GET", current, what), f"list tags {repo}")
        try:
            page = response.json().get("tags") or []
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise ValueError
        except (ValueError, AttributeError):
            raise RegistryError(f"{what}: the answer is not a tag list") from None
        new = set(page) - tags
        tags |= new
        if len(tags) > limits.MAX_TAGS:
            raise RegistryError(f"{what}: more than {limits.MAX_TAGS} tags, the most mirrorsync reads")
        url = _next_link(response, current)
        if url is None and new and len(page) >= page_size:
            # a full page and no Link: a registry that pages by n/last without saying so
            url = f"{first}&last={quote(page[-1])}"
    return sorted(tags)


def _no_query(url: str) -> str:
    return url.split("?", 1)[0]


def _next_link(response: httpx.Response, current: str) -> str | None:
    link = response.headers.get("Link")
    if not link:
        return None
    for part in link.split(","):
        if 'rel="next"' in part or "rel=next" in part:
            target = part.split(";")[0].strip().strip("<>")
            return urljoin(current, target)
    return None

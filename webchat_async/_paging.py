"""Following ``next`` / ``nextUri`` links safely, and walking pages item by item."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

from .errors import DecodeError

__all__ = ["iterate", "resolve_link"]

P = TypeVar("P")
T = TypeVar("T")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def resolve_link(base_url: str, link: str) -> tuple[str, str]:
    """Resolve a paging link against the API base; return ``(url, path)``.

    Links are relative to the API base (``/api/v2/...?after=...``) or absolute. A relative
    link is appended to the base as is, so a base with a path prefix (a proxy) keeps it
    **[choice: the service's links are root-relative, and it knows of no prefix]**. An
    absolute link must point at the API base's own origin: the guest JWT is sent with it,
    and must never reach another host.

    Raises:
        DecodeError: the link points at another host (or is not a usable URI).
    """
    if not isinstance(link, str) or not link.strip():
        raise DecodeError("the paging link is not a non-empty string")
    link = link.strip()
    try:
        absolute = link.startswith("//") or bool(urlsplit(link).scheme)
        foreign = absolute and _origin(link) != _origin(base_url)
    except ValueError:  # a malformed port or IPv6 literal
        raise DecodeError("the paging link is not a valid URI") from None
    if absolute:
        if foreign:
            raise DecodeError(
                "the paging link points at another host than the API base; refusing to "
                "send credentials there"
            )
        url = link
    else:
        url = base_url + (link if link.startswith("/") else "/" + link)
    path = urlsplit(url).path or "/"
    return url, path


async def iterate(
    fetch: Callable[[str | None], Awaitable[P]],
    items_of: Callable[[P], Sequence[T] | None],
    link_of: Callable[[P], str | None],
) -> AsyncIterator[T]:
    """Yield the items of each page; ``fetch(None)`` is the first page, ``fetch(link)`` the next.

    Stops when a page has no next link or no items, when a link comes back that was
    already followed, or when a page brings no item (by ``id``) not seen before: a server
    repeating a page under new links would otherwise make the caller loop for ever
    (docs/protocol.md, "What the documents leave open"). Items seen before are not
    yielded again.
    """
    followed: set[str] = set()
    seen: set[object] = set()
    link: str | None = None
    while True:
        page = await fetch(link)
        items = items_of(page)
        if not items:
            return
        fresh = 0
        for item in items:
            key = getattr(item, "id", None)
            if key is not None:
                if key in seen:
                    continue
                seen.add(key)
            fresh += 1
            yield item
        if not fresh:
            return
        link = link_of(page)
        if not link or link in followed:
            return
        followed.add(link)

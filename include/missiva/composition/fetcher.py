"""A WeasyPrint URL fetcher that can only read the template library's own assets."""

import mimetypes
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from weasyprint.urls import URLFetcher, URLFetcherResponse

ASSET_FOLDERS = ("styles", "fonts", "images")


class AssetAccessError(ValueError):
    """The renderer asked for a URL outside the template assets; it is refused."""


class TemplateAssetFetcher(URLFetcher):
    """Serve ``file:`` URLs inside ``<templates>/{styles,fonts,images}``; refuse everything else.

    No network, no ``data:``, no other local file: a refused URL raises
    :class:`AssetAccessError`, which WeasyPrint logs and skips, so the resource never
    reaches the document. Symlinks and ``..`` are resolved before the check.
    """

    def __init__(self, templates_dir: Path, folders: Iterable[str] = ASSET_FOLDERS) -> None:
        super().__init__(allowed_protocols=("file",), allow_redirects=False)
        root = Path(templates_dir).resolve()
        self.roots: tuple[Path, ...] = tuple(root / folder for folder in folders)

    def resolve(self, url: str) -> Path:
        """The local path of an allowed asset URL, else raise :class:`AssetAccessError`."""
        parts = urlsplit(url)
        if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost"):
            path = Path(url2pathname(parts.path)).resolve()
            if any(path.is_relative_to(root) for root in self.roots) and path.is_file():
                return path
        raise AssetAccessError(f"refused URL outside the template assets: {url[:200]!r}")

    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse:
        """Return the asset's bytes (WeasyPrint's fetcher interface)."""
        path = self.resolve(url)
        mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(
            path.as_uri(), body=path.read_bytes(), headers={"Content-Type": mime_type}
        )

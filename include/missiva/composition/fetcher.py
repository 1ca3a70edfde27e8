"""A WeasyPrint URL fetcher that can only read the template library's own assets."""

import mimetypes
from collections.abc import Iterable, Mapping
from pathlib import Path

from weasyprint.urls import URLFetcher, URLFetcherResponse

from missiva.composition.assets import ASSET_FOLDERS, AssetAccessError, TemplateAssets

__all__ = ["ASSET_FOLDERS", "AssetAccessError", "TemplateAssetFetcher"]


class TemplateAssetFetcher(URLFetcher):
    """Serve ``file:`` URLs inside ``<templates>/{styles,fonts,images}``; refuse everything else.

    No network, no ``data:``, no other local file: a refused URL raises
    :class:`AssetAccessError`, which WeasyPrint logs and skips, so the resource never
    reaches the document. Symlinks and ``..`` are resolved before the check.
    """

    def __init__(self, templates_dir: Path, folders: Iterable[str] = ASSET_FOLDERS) -> None:
        super().__init__(allowed_protocols=("file",), allow_redirects=False)
        self.assets = TemplateAssets(templates_dir, folders)
        self.roots = self.assets.roots
        self.resolve = self.assets.resolve

    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse:
        """Return the asset's bytes (WeasyPrint's fetcher interface)."""
        path = self.resolve(url)
        mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(
            path.as_uri(), body=path.read_bytes(), headers={"Content-Type": mime_type}
        )

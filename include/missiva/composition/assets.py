"""The template library's assets (styles, fonts, images): the only local files a
rendering may read."""

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

ASSET_FOLDERS = ("styles", "fonts", "images")


class AssetAccessError(ValueError):
    """The renderer asked for a URL outside the template assets; it is refused."""


class TemplateAssets:
    """``file:`` URLs inside ``<templates>/{styles,fonts,images}``; nothing else.

    Symlinks and ``..`` are resolved before the check.
    """

    def __init__(self, templates_dir: Path, folders: Iterable[str] = ASSET_FOLDERS) -> None:
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

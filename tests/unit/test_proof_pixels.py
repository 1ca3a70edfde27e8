"""Pixel diffs of proof screenshots and the hash an approval records of a report."""

from pathlib import Path

from PIL import Image

from missiva.composition.proof import report_hash
from missiva.composition.proof_visual import pixel_diff


def png(path: Path, size: tuple[int, int], dots: list[tuple[int, int]] = ()) -> Path:
    image = Image.new("RGB", size, "white")
    for dot in dots:
        image.putpixel(dot, (0, 0, 0))
    image.save(path)
    return path


def test_identical_images_have_no_changed_pixel(tmp_path: Path) -> None:
    a = png(tmp_path / "a.png", (40, 30), [(3, 3)])
    b = png(tmp_path / "b.png", (40, 30), [(3, 3)])
    assert pixel_diff(a, b, tmp_path / "d.png") == {
        "changed_pixels": 0,
        "total_pixels": 1200,
        "width": 40,
        "height": 30,
    }


def test_changed_pixels_are_counted_and_painted_red(tmp_path: Path) -> None:
    a = png(tmp_path / "a.png", (40, 30), [(3, 3)])
    b = png(tmp_path / "b.png", (40, 30), [(5, 7), (6, 7)])
    assert pixel_diff(a, b, tmp_path / "d.png")["changed_pixels"] == 3
    overlay = Image.open(tmp_path / "d.png").convert("RGB")
    assert overlay.getpixel((5, 7)) == overlay.getpixel((3, 3)) == (220, 38, 38)
    assert overlay.getpixel((0, 0)) == (255, 255, 255)


def test_a_longer_page_or_a_missing_one_counts_as_changed(tmp_path: Path) -> None:
    short = png(tmp_path / "short.png", (40, 30))
    tall = png(tmp_path / "tall.png", (40, 50), [(1, 40)])
    result = pixel_diff(short, tall, tmp_path / "d.png")
    assert (result["height"], result["changed_pixels"]) == (50, 1)  # padded on white
    assert pixel_diff(None, short, tmp_path / "e.png")["changed_pixels"] == 1200


def test_report_hash_covers_every_file_of_the_report(tmp_path: Path) -> None:
    (tmp_path / "visual").mkdir()
    (tmp_path / "summary.json").write_text("{}")
    png(tmp_path / "visual" / "a.png", (4, 4))
    before = report_hash(tmp_path)
    assert report_hash(tmp_path) == before
    png(tmp_path / "visual" / "a.png", (4, 4), [(1, 1)])
    assert report_hash(tmp_path) != before

"""Composition benchmark (``missiva bench compose --json``) and the brand font build.

``bench_compose`` renders the reference onboarding letter (``welcome``, a fixed Italian
customer) and reports, as one JSON-able dict:

- ``pdf_letters_per_s``: end-to-end PDF bytes per second on one core
  (``Composer.render_letter_pdf``: Jinja, HTML parsing, layout, drawing, PDF writing);
- ``pdf_layout_ceiling_per_s``: the same HTML laid out by WeasyPrint with the same parsed
  stylesheets and font configuration, without drawing or writing the PDF — the upper
  bound of the PDF rate. The two are measured interleaved (one letter, one layout, ...)
  in the same process so that machine noise hits both alike;
- ``email_per_s``: ``Composer.render_email`` (HTML with CSS inlined by css-inline, and
  the plain-text part);
- ``pdf_letters_per_s_2_cores``: a pool of 2 processes, one ``Composer`` each;
- ``per_cpu_second``: the single-process rates per CPU second, which other load on a
  shared machine skews less than the wall-clock ones (``machine.load_average``).

Where the time goes (WeasyPrint 70, one letter, this 2-core machine): HTML parsing
~2 ms and layout ~35 ms, in both rates; then, for the PDF only (``pdf_after_layout_ms``),
drawing ~8.5 ms (of which text ~6 ms: Pango shapes every line again, and the glyphs are
written one by one in Python), font subsetting and embedding ~0.7 ms with the brand font,
PDF/A metadata ~0.5 ms, and serialisation ~1.5 ms once every stream is compressed only
once (:mod:`missiva.composition.pdf_streams`; ~4 ms before). Jinja takes ~0.2 ms.

The letter's brand font is built by :mod:`missiva.devtools.bench_fonts` (re-exported
here). Run::

    python -m missiva.devtools.bench make-font
    python -m missiva.devtools.bench compose [seconds]       # prints the JSON
    python -m missiva.devtools.bench without-text [seconds]  # the same letter, its text not drawn
"""

from __future__ import annotations

import datetime
import io
import json
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from missiva.devtools.bench_fonts import BRAND_FAMILY, BRAND_FONTS, DEJAVU_DIR, make_brand_font
from missiva.paths import TEMPLATES_DIR

__all__ = ["BRAND_FAMILY", "BRAND_FONTS", "DEJAVU_DIR", "bench_compose", "make_brand_font"]

# -- the reference letter ---------------------------------------------------------------

REFERENCE_COMMUNICATION = "welcome"
WARM_UP = 3  # untimed renders of each kind before measuring


def reference_record() -> dict[str, Any]:
    """The fixed record of the benchmark: an Italian customer with a policy."""
    return {
        "customer_id": "C000123",
        "first_name": "Niccolò",
        "last_name": "D'Agostino",
        "email": "niccolo.dagostino@example.com",
        "phone": "+39 333 000 0000",
        "language": "it",
        "timezone": "Europe/Rome",
        "address_line1": "Via Sant'Agnese 12",
        "address_line2": None,
        "postal_code": "20123",
        "city": "Milano",
        "country": "IT",
        "preferred_channel": "letter",
        "do_not_contact": "false",
        "joined_at": "2026-10-30 09:15:00",
        "consent_email_transactional": 1,
        "consent_paper_transactional": 1,
        "consent_sms_transactional": 1,
        "policy_id": "POL-2026-000123",
        "product": "Casa Serena",
        "premium_cents": 45000,
        "currency": "EUR",
        "communication_id": "welcome-C000123-20261102",
        "letter_date": datetime.date(2026, 11, 2),
    }


def _composer(templates_dir: Path) -> Any:
    """A Composer for the benchmark; drafts render too (approval is not what we time)."""
    from missiva.composition import Composer

    return Composer(templates_dir, production=False)


def _layout_job(composer: Any, communication: str, record: dict[str, Any]) -> Callable[[], Any]:
    """Lay out the letter's HTML exactly as ``render_letter_pdf`` does, without the PDF.

    Same HTML, base URL, URL fetcher, parsed stylesheets and font configuration as the
    Composer's letter rendering (its internals and its ``letter_printer``, on purpose:
    the ceiling must use the very same assets).
    """
    comm = composer._communication(communication)
    ctx = composer._context(comm, "letter_pdf", record)
    ctx["inline_css"] = None
    html = composer._render(comm.template("letter_pdf"), ctx)
    printer, stylesheets = composer.letter_printer, comm.stylesheets["letter"]
    printer.stylesheets(stylesheets)  # parsed now, not while timing

    def layout() -> Any:
        return printer.layout(html, stylesheets)

    return layout


def _after_layout_ms(layout: Callable[[], Any], letters: int) -> dict[str, float]:
    """Per letter, the PDF time after layout, in two parts (public WeasyPrint API only):
    ``drawing_fonts_metadata`` up to the finisher (drawing the pages, subsetting and
    embedding the fonts, PDF/A metadata), ``serialisation`` from the finisher on
    (table header scopes, compressing the streams, writing the file)."""
    from missiva.composition.engine import PDF_VARIANT
    from missiva.composition.pdf_tags import PDFUA_1_XMP, finish_letter

    reached: list[float] = []  # when each write reached the finisher

    def finisher(document: Any, pdf: Any) -> None:
        reached.append(time.perf_counter())
        finish_letter(document, pdf)

    drawn = written = 0.0
    for _ in range(letters):
        document = layout()
        document.metadata.xmp_metadata = [PDFUA_1_XMP]
        start = time.perf_counter()
        document.write_pdf(pdf_variant=PDF_VARIANT, finisher=finisher)
        end = time.perf_counter()
        drawn += reached[-1] - start
        written += end - reached[-1]
    return {
        "drawing_fonts_metadata": round(1000 * drawn / letters, 2),
        "serialisation": round(1000 * written / letters, 2),
    }


def _rate(count: int, elapsed: float) -> float:
    return round(count / elapsed, 2) if elapsed > 0 else 0.0


def _interleaved(jobs: dict[str, Callable[[], Any]], seconds: float) -> dict[str, list]:
    """Run the jobs in turn until ``seconds`` pass; each job's [count, wall s, CPU s]."""
    wall, cpu = time.perf_counter, time.process_time
    totals: dict[str, list] = {name: [0, 0.0, 0.0] for name in jobs}
    deadline = wall() + seconds
    while True:
        for name, job in jobs.items():
            start, start_cpu = wall(), cpu()
            job()
            totals[name][2] += cpu() - start_cpu
            totals[name][1] += wall() - start
            totals[name][0] += 1
        if wall() >= deadline:
            return totals


def _timed(job: Callable[[], Any], seconds: float) -> tuple[int, float, float]:
    """Run ``job`` until ``seconds`` pass; (count, wall s, CPU s)."""
    wall, cpu = time.perf_counter, time.process_time
    count, start, start_cpu = 0, wall(), cpu()
    deadline = start + seconds
    while True:
        job()
        count += 1
        now = wall()
        if now >= deadline:
            return count, now - start, cpu() - start_cpu


# -- process pool ----------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _pool_init(templates_dir: str, communication: str, barrier: Any) -> None:
    """One Composer per process, warmed up before the clock starts."""
    _worker["barrier"] = barrier
    try:
        composer = _composer(Path(templates_dir))
        record = reference_record()
        for _ in range(WARM_UP):
            composer.render_letter_pdf(communication, record)
    except Exception as exc:  # reported by _pool_run: a failing initializer loops in Pool
        _worker["error"] = exc
        return
    _worker.update(composer=composer, record=record, comm=communication)


def _pool_run(seconds: float) -> tuple[int, float, float]:
    """Render letters for ``seconds`` once every worker is ready; (count, elapsed)."""
    barrier = _worker["barrier"]
    if "error" in _worker:
        barrier.abort()  # the other workers stop waiting
        raise _worker["error"]
    barrier.wait(timeout=300)
    composer, comm, record = _worker["composer"], _worker["comm"], _worker["record"]
    return _timed(lambda: composer.render_letter_pdf(comm, record), seconds)


def pool_letters_per_s(
    processes: int,
    seconds: float,
    templates_dir: Path = TEMPLATES_DIR,
    communication: str = REFERENCE_COMMUNICATION,
) -> tuple[float, int]:
    """PDF letters per second with ``processes`` worker processes; (rate, letters).

    Each process builds its own Composer (WeasyPrint is not shared across processes),
    renders one letter to warm up, waits for the others, then renders for ``seconds``.
    """
    context = multiprocessing.get_context("spawn")  # no fork of Pango/fontconfig state
    barrier = context.Barrier(processes)
    with context.Pool(processes, _pool_init, (str(templates_dir), communication, barrier)) as pool:
        results = pool.map(_pool_run, [seconds] * processes, chunksize=1)
    count = sum(c for c, _, _ in results)
    return round(sum(c / e for c, e, _ in results if e > 0), 2), count


# -- the benchmark ---------------------------------------------------------------------


def _font_info(templates_dir: Path, pdf: bytes) -> dict[str, Any]:
    """The brand font files and the fonts actually embedded in the reference letter."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    embedded = {
        str(font.get_object()["/BaseFont"]).split("+")[-1]
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    return {
        "family": BRAND_FAMILY,
        "files": {
            p.name: p.stat().st_size for p in sorted((templates_dir / "fonts").glob("*.ttf"))
        },
        "embedded_in_letter": sorted(embedded),
        "source": "DejaVu Sans subset (python -m missiva.devtools.bench make-font)",
    }


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not available on this platform
        return None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def bench_compose(
    seconds: float = 10.0,
    *,
    templates_dir: Path = TEMPLATES_DIR,
    processes: int = 2,
) -> dict[str, Any]:
    """Measure composition throughput on the reference letter (see the module doc).

    ``seconds`` is the time given to each of the three measurements (PDF and layout
    interleaved, e-mail, the process pool); the whole run takes a little over
    ``3 * seconds`` plus the pool's start-up. Rates are per wall-clock second.
    """
    import weasyprint

    communication = REFERENCE_COMMUNICATION
    record = reference_record()
    composer = _composer(templates_dir)
    load_before = _load_average()
    # Warm-up (not timed): template compilation, parsed CSS, fonts, Pango's caches.
    pdf = composer.render_letter_pdf(communication, record)
    layout = _layout_job(composer, communication, record)
    pages = len(layout().pages)
    email = composer.render_email(communication, record)
    for _ in range(WARM_UP):
        composer.render_letter_pdf(communication, record)
        layout()
        composer.render_email(communication, record)

    single = _interleaved(
        {
            "pdf": lambda: composer.render_letter_pdf(communication, record),
            "layout": layout,
        },
        seconds,
    )
    email_timed = _timed(lambda: composer.render_email(communication, record), seconds)
    after_layout = _after_layout_ms(layout, max(5, single["pdf"][0] // 4))
    pool = pool_letters_per_s(processes, seconds, templates_dir, communication)
    return {
        **_rates(single, email_timed, after_layout, processes, pool),
        "seconds_per_measurement": seconds,
        "communication": communication,
        "record": "fixed Italian customer (missiva.devtools.bench.reference_record)",
        "pdf_bytes": len(pdf),
        "pdf_pages": pages,
        "email_bytes": len(email.html.encode()) + len(email.text.encode()),
        "email_css_inlined": ' style="' in email.html,
        "machine": {
            "cores": _cores(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            # other load on the machine skews every rate: 1-minute load, before and after
            "load_average": [load_before, _load_average()],
        },
        "weasyprint": weasyprint.__version__,
        "font": _font_info(templates_dir, pdf),
    }


def _rates(
    single: dict[str, list],
    email: tuple[int, float, float],
    after_layout: dict[str, float],
    processes: int,
    pool: tuple[float, int],
) -> dict[str, Any]:
    """The rates and counts of :func:`bench_compose` from its measurements."""
    pdf_rate = _rate(*single["pdf"][:2])
    layout_rate = _rate(*single["layout"][:2])
    email_count, email_elapsed, email_cpu = email
    pool_rate, pool_count = pool
    return {
        "pdf_letters_per_s": pdf_rate,
        "pdf_layout_ceiling_per_s": layout_rate,
        "pdf_to_ceiling_ratio": round(pdf_rate / layout_rate, 3) if layout_rate else 0.0,
        # per letter, what the PDF costs beyond layout: drawing, fonts, writing the file
        "pdf_beyond_layout_ms": (
            round(1000 / pdf_rate - 1000 / layout_rate, 1) if pdf_rate and layout_rate else None
        ),
        # the same split in two, measured on its own after the interleaved run
        "pdf_after_layout_ms": after_layout,
        "email_per_s": _rate(email_count, email_elapsed),
        f"pdf_letters_per_s_{processes}_cores": pool_rate,
        # the same rates per CPU second of this process: less sensitive to other load
        "per_cpu_second": {
            "pdf_letters": _rate(single["pdf"][0], single["pdf"][2]),
            "pdf_layout_ceiling": _rate(single["layout"][0], single["layout"][2]),
            "email": _rate(email_count, email_cpu),
        },
        "count": {
            "pdf": single["pdf"][0],
            "layout": single["layout"][0],
            "email": email_count,
            f"pdf_{processes}_cores": pool_count,
        },
    }


@contextmanager
def text_not_drawn() -> Iterator[None]:
    """For an experiment only: WeasyPrint lays text out as usual but does not draw it."""
    import weasyprint.draw

    with mock.patch.object(weasyprint.draw, "draw_text", lambda *args, **kwargs: None):
        yield


def bench_without_text(seconds: float = 10.0) -> dict[str, Any]:
    """The experiment behind ``pdf_to_ceiling_ratio``: the reference letter's PDF rate
    with and without WeasyPrint drawing its text (:func:`text_not_drawn`), against the
    layout ceiling, the three interleaved in one process. What separates the two PDF
    rates is WeasyPrint's text drawing alone (Pango shaping each line again, glyphs
    written one by one in Python); fonts, metadata and serialisation stay in both."""
    communication, record = REFERENCE_COMMUNICATION, reference_record()
    composer = _composer(TEMPLATES_DIR)

    def letter() -> bytes:
        return composer.render_letter_pdf(communication, record)

    def letter_without_text() -> bytes:
        with text_not_drawn():
            return letter()

    jobs = {
        "pdf": letter,
        "pdf_without_text": letter_without_text,
        "layout": _layout_job(composer, communication, record),
    }
    for _ in range(WARM_UP):
        for job in jobs.values():
            job()
    totals = _interleaved(jobs, seconds)
    rates = {name: _rate(*total[:2]) for name, total in totals.items()}
    ceiling = rates["layout"]
    return {
        "pdf_letters_per_s": rates["pdf"],
        "pdf_letters_without_text_per_s": rates["pdf_without_text"],
        "pdf_layout_ceiling_per_s": ceiling,
        "pdf_to_ceiling_ratio": round(rates["pdf"] / ceiling, 3),
        "without_text_to_ceiling_ratio": round(rates["pdf_without_text"] / ceiling, 3),
        "text_drawing_ms": round(1000 / rates["pdf"] - 1000 / rates["pdf_without_text"], 2),
        "count": {name: total[0] for name, total in totals.items()},
    }


def compose_json(seconds: float = 10.0) -> str:
    """``bench_compose`` as indented JSON text."""
    return json.dumps(bench_compose(seconds), indent=2, ensure_ascii=False)


def main_json(seconds: float = 10.0) -> int:
    """Print the compose benchmark as JSON (what ``missiva bench compose --json`` shows)."""
    print(compose_json(seconds))
    return 0


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m missiva.devtools.bench make-font | compose [s] | without-text [s]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["make-font"]:
        for path in make_brand_font():
            print(f"{path} ({path.stat().st_size:,} bytes)")
        return 0
    seconds = float(args[1]) if len(args) == 2 else 10.0
    if args[:1] == ["compose"] and len(args) <= 2:
        return main_json(seconds)
    if args[:1] == ["without-text"] and len(args) <= 2:
        print(json.dumps(bench_without_text(seconds), indent=2))
        return 0
    usage = "make-font | compose [seconds] | without-text [seconds]"
    print(f"usage: python -m missiva.devtools.bench {usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

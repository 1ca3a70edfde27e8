# ruff: noqa: RUF001, RUF003 - Greek letters and typographic quotes are the point here
"""SMS encoding and segmentation (GSM 03.38) and the SMS rendition of a communication."""

import json
import shutil
from pathlib import Path

import pytest
from test_composition import make_record

from missiva.composition import Composer, SmsLimitError, TemplateError, analyse
from missiva.composition.sms import GSM7_BASIC, GSM7_EXTENSION, is_gsm7
from missiva.paths import TEMPLATES_DIR


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 1),
        ("Ciao Giulia, è attiva!", "GSM-7", 22, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€", "GSM-7", 2, 1),  # extension table: ESC + code
        ("€" * 80, "GSM-7", 160, 1),
        ("€" + "a" * 159, "GSM-7", 161, 2),
        ("[]{}\\^~|", "GSM-7", 16, 1),
        # 152 + € (2) would straddle the 153-septet boundary: it moves to segment 2
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),
        ("Ζωή", "UCS-2", 3, 1),  # Greek small letters are not GSM-7 (Ζ neither)
        ("Ζ" * 70, "UCS-2", 70, 1),
        ("Ζ" * 71, "UCS-2", 71, 2),
        ("李" * 134, "UCS-2", 134, 2),
        ("李" * 135, "UCS-2", 135, 3),
        ("Hello È", "UCS-2", 7, 1),  # capital E grave is not in the default alphabet
        ("😀" * 35, "UCS-2", 70, 1),  # outside the BMP: a surrogate pair, 2 units
        ("a" * 66 + "😀" + "a" * 66, "UCS-2", 134, 3),  # a pair is never split
    ],
)
def test_analyse(text: str, encoding: str, units: int, segments: int) -> None:
    info = analyse(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)


def test_alphabet_sizes() -> None:
    assert len(GSM7_BASIC) == 127  # 128 code points less ESC
    assert len(GSM7_EXTENSION) == 10
    assert is_gsm7("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà")
    assert not is_gsm7("ç") and not is_gsm7("’") and not is_gsm7("\t")


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer()


def test_sms_italian_is_gsm7_single_segment(composer: Composer) -> None:
    sms = composer.render_sms("welcome", make_record())
    assert sms.text == (
        "Missiva: ciao Giulia, ti diamo il benvenuto! La polizza POL-2026-000123 è attiva. "
        "Documenti e contatti su www.missiva.example"
    )
    assert (sms.encoding, sms.segments, sms.units) == ("GSM-7", 1, len(sms.text))
    assert sms.provenance.template == "welcome" and sms.provenance.blocks == {}


def test_sms_english_without_policy(composer: Composer) -> None:
    sms = composer.render_sms("welcome", make_record(language="en", policy_id=None))
    assert sms.text.startswith("Missiva: hello Giulia, welcome aboard!")
    assert "Policy" not in sms.text and "None" not in sms.text


def test_sms_non_latin_name_forces_ucs2(composer: Composer) -> None:
    sms = composer.render_sms("welcome", make_record(first_name="Ζωή", language="en"))
    assert "hello Ζωή," in sms.text
    assert sms.encoding == "UCS-2" and sms.segments == 2  # 115 units > 70


def test_sms_extension_characters_count_twice(composer: Composer) -> None:
    plain = composer.render_sms("welcome", make_record(first_name="Anna"))
    euro = composer.render_sms("welcome", make_record(first_name="Ann€"))
    assert euro.encoding == "GSM-7" and euro.units == plain.units + 1


def test_sms_data_is_inert_and_single_line(composer: Composer) -> None:
    sms = composer.render_sms(
        "welcome",
        make_record(first_name="{{ 7*7 }}\r\nBcc: x <script>", policy_id="{% raw %}"),
    )
    assert "ciao {{ 7*7 }} Bcc: x <script>, ti diamo" in sms.text
    assert "49" not in sms.text and "\r" not in sms.text and "\n" not in sms.text
    assert "La polizza {% raw %} è attiva." in sms.text


def test_sms_segment_limit_names_the_communication(composer: Composer) -> None:
    with pytest.raises(SmsLimitError) as info:
        composer.render_sms("welcome", make_record(first_name="A" * 400))
    message = str(info.value)
    assert "'welcome'" in message and "limit of 3" in message and "max_segments" in message
    assert isinstance(info.value, TemplateError)


def test_sms_one_megabyte_field_fails_clearly(composer: Composer) -> None:
    with pytest.raises(SmsLimitError, match=r"'welcome'.* segments \(GSM-7, 1,048,6"):
        composer.render_sms("welcome", make_record(first_name="x" * 1_048_576))


def test_sms_limit_comes_from_meta(tmp_path: Path) -> None:
    library = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, library)
    meta_path = library / "communications/welcome/meta.json"
    meta = json.loads(meta_path.read_text())
    meta["sms"]["max_segments"] = 1
    meta_path.write_text(json.dumps(meta))
    draft = Composer(library, production=False)
    assert draft.render_sms("welcome", make_record()).segments == 1
    with pytest.raises(SmsLimitError, match="limit of 1"):
        draft.render_sms("welcome", make_record(first_name="Ζωή"))


def test_communication_without_sms_rendition(tmp_path: Path) -> None:
    library = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, library)
    meta_path = library / "communications/welcome/meta.json"
    meta = json.loads(meta_path.read_text())
    meta["renditions"].remove("sms")
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(TemplateError, match=r"welcome/sms\.txt: communication has no 'sms'"):
        Composer(library, production=False).render_sms("welcome", make_record())

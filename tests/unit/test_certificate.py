"""The certificate image: real CJK glyphs, a QR code to the verify page, stable bytes, a layout
that holds for long, emoji and mixed-script names, and a golden image."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image, ImageChops, ImageDraw

from bot.catalog import load_catalog
from bot.render.certificate import NAME_SIZES, TEXT_WIDTH, CertificateRenderer
from bot.render.drawing import fit, wrap
from bot.render.fonts import coverage, face_for, font, runs
from bot.services.certificates import card_of
from bot.services.names import printable, unprintable
from bot.services.pledges import Pledge
from tests.kit.paths import TESTS

GOLDEN = TESTS / "golden"
BASE_URL = "https://trees.example.org"


def pledge(**changes: object) -> Pledge:
    values: dict[str, object] = {
        "id": "7K3M9Q2TAB",
        "user_key": "test:u1",
        "base": "jinkui",
        "form": "donation",
        "trees": 5,
        "amount_yuan": 100,
        "name": "张三丰",
        "locale": "zh",
        "created": "2026-03-12T02:00:00+00:00",
        "status": "fulfilled",
        "serial": "WX2026-7K3M9Q2TAB-ABCDEF",
    }
    values.update(changes)
    return Pledge(**values)  # type: ignore[arg-type]


class PledgeCards:
    """The renderer fed the card of a pledge, as the certificates service feeds it."""

    def __init__(self) -> None:
        self.catalog = load_catalog()
        self.cards = CertificateRenderer()

    def render(self, pledge: Pledge, kind: str = "png") -> bytes:
        return self.cards.render(card_of(pledge, self.catalog, BASE_URL), kind)


@pytest.fixture(scope="module")
def renderer() -> PledgeCards:
    return PledgeCards()


def glyph(char: str) -> bytes:
    image = Image.new("L", (80, 80))
    ImageDraw.Draw(image).text((8, 4), char, font=font(60), fill=255)
    return image.tobytes()


def test_chinese_names_and_base_names_render_as_real_glyphs() -> None:
    tofu = glyph("\U0010fffd")  # no font has this: FreeType draws the .notdef box
    text = "张三丰王小明" + "".join(b.name.zh for b in load_catalog().bases)
    for char in set(text):
        assert ord(char) in coverage(), char
        drawn = glyph(char)
        assert drawn != tofu and any(drawn), char
    assert glyph("金") != glyph("匮")


def test_the_card_is_portrait_png_at_least_1080_wide(renderer: PledgeCards) -> None:
    image = Image.open(io.BytesIO(renderer.render(pledge())))
    assert image.format == "PNG" and image.width >= 1080 and image.height > image.width


def test_the_qr_code_decodes_to_the_verify_url(renderer: PledgeCards) -> None:
    image = Image.open(io.BytesIO(renderer.render(pledge())))
    results = zxingcpp.read_barcodes(image)
    assert [r.text for r in results] == [f"{BASE_URL}/verify/WX2026-7K3M9Q2TAB-ABCDEF"]


def test_the_same_pledge_renders_to_identical_bytes(renderer: PledgeCards) -> None:
    assert renderer.render(pledge()) == renderer.render(pledge())
    assert renderer.render(pledge()) != renderer.render(pledge(name="李四"))


@pytest.mark.parametrize(
    "name",
    [
        "欧阳娜娜欧阳娜娜欧阳娜娜欧阳娜娜欧阳娜",
        "Maximilian Alexander von Habsburg-Lothringen",
        printable("Ann 🌳 Lee 李 Ωμέγα Кирилл"),
    ],
)
def test_long_and_mixed_names_fit_the_line(renderer: PledgeCards, name: str) -> None:
    size = fit(name, NAME_SIZES, TEXT_WIDTH)
    lines = wrap(name, size, TEXT_WIDTH)
    assert 1 <= len(lines) <= 2
    assert all(font(size).getlength(line) <= TEXT_WIDTH for line in lines)
    assert size in NAME_SIZES
    assert renderer.render(pledge(name=name))


def test_english_card_for_english_pledges(renderer: PledgeCards) -> None:
    zh = Image.open(io.BytesIO(renderer.render(pledge())))
    en = Image.open(io.BytesIO(renderer.render(pledge(locale="en", name="Jane Doe"))))
    title = (100, 120, 980, 230)
    assert ImageChops.difference(zh.crop(title), en.crop(title)).getbbox() is not None


def test_no_certificate_without_a_serial(renderer: PledgeCards) -> None:
    with pytest.raises(ValueError, match="serial"):
        renderer.render(pledge(serial=None))


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_matches_the_golden_image(
    renderer: PledgeCards, locale: str, request: pytest.FixtureRequest
) -> None:
    path = GOLDEN / f"certificate-{locale}.png"
    png = renderer.render(pledge(locale=locale, name="张三丰" if locale == "zh" else "Jane Doe"))
    if request.config.getoption("--regen-golden") or not path.exists():
        path.write_bytes(png)
        pytest.skip("golden image written")
    with Image.open(path) as golden:
        expected = golden.convert("RGB")
    actual = Image.open(io.BytesIO(png)).convert("RGB")
    assert actual.size == expected.size
    diff = (
        ImageChops.difference(actual, expected).convert("L").point(lambda v: 255 if v > 48 else 0)
    )
    assert diff.histogram()[255] < 0.002 * actual.width * actual.height


@pytest.mark.parametrize(
    ("name", "fallback"),
    [("Ñandú Ōta-Łukasz", "Ł"), ("Ἀλέξης Ґалина", "Ґ"), ("张\U0002a6a5丰", "\U0002a6a5")],
)
def test_characters_the_main_font_lacks_come_from_a_fallback(
    renderer: PledgeCards, name: str, fallback: str
) -> None:
    assert ord(fallback) not in coverage()
    assert face_for(fallback) is not None
    assert "".join(run for run, _ in runs(name)) == name
    with_it = renderer.render(pledge(name=name))
    without = renderer.render(pledge(name=name.replace(fallback, "")))
    assert with_it != without  # the character is drawn, not dropped


def test_what_no_font_prints_is_named() -> None:
    assert unprintable("Ann 🌳 Lee") == "🌳"
    assert unprintable("Ñandú Ōta-Łukasz 张\U0002a6a5丰") is None
    assert face_for("\U0001f333") is None

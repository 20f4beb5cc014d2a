"""The README's screenshot is cut and compressed (``make screenshots`` itself needs Chromium
and is run by hand)."""

from __future__ import annotations

import io

from PIL import Image

from bench.screenshots import README_HEIGHT, WIDTH, optimized_png


def _png(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height), "#f6f8fa")
    image.paste((9, 105, 218), (10, 10, width // 2, height // 2))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_the_readme_image_is_the_top_of_the_page_at_most_1280_wide_in_a_palette() -> None:
    image = Image.open(io.BytesIO(optimized_png(_png(2560, 4000))))
    assert image.size == (WIDTH, README_HEIGHT) and image.mode == "P"
    small = Image.open(io.BytesIO(optimized_png(_png(800, 300))))
    assert small.size == (800, 300)  # never enlarged

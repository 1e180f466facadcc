"""Thumbnails beyond rasters, end to end: an SVG drawn to PNG and a PDF's first page drawn to JPEG
at 500 px wide, a WebM's middle frame, a sound with nothing to see, an SVG that points outside
itself refused, a DjVu's first page, a broken DjVu with its reason; each row `ok` with its thumbnail_status,
counted per media type in the report."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image
from pyspark.sql import functions as F

from mediaextract import dataset, statuses
from mediaextract.digest import sha1_base36, storage_key_for
from mediaextract.extract import run_extract
from mediaextract_sandbox.media import encode_video, thirds

from ..conftest import sandbox_settings

SVG = (b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="120mm" height="60mm">'
       b'<rect width="100%" height="100%" fill="#0a0"/><circle cx="50%" cy="50%" r="20%" fill="#fff"/></svg>')
HOSTILE_SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
               b'<image href="file:///etc/passwd" width="10" height="10"/></svg>')


def _webm() -> bytes:
    """Three seconds of video, red, green then blue: the frame at the middle is green."""
    return encode_video(thirds((320, 240), 30, ((255, 0, 0), (0, 200, 0), (0, 0, 255))))


def _pdf() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (612, 792), (30, 60, 200)).save(out, "PDF")  # a letter-size page at 72 dpi
    return out.getvalue()


# Page 1 of 2 is 1000x1500, red above blue (tests/fixtures/djvu/make_fixtures.sh).
DJVU = Path(__file__).resolve().parents[1] / "fixtures" / "djvu" / "red_blue_2p_bundled.djvu"

# name -> (bytes, media type, major, minor, width, height, expected thumbnail (mime, width, height) or status)
FILES = {
    "Company_logo.svg": (SVG, "DRAWING", "image", "svg+xml", 454, 227, ("image/png", 500, 250)),
    "Scanned_book.pdf": (_pdf(), "OFFICE", "application", "pdf", 612, 792, ("image/jpeg", 500, 647)),
    "Evil_logo.svg": (HOSTILE_SVG, "DRAWING", "image", "svg+xml", 10, 10, "failed"),
    "Jingle.flac": (b"fLaC" + bytes(200), "AUDIO", "audio", "flac", 0, 0, "not_visual"),
    "Screen_recording.webm": (_webm(), "VIDEO", "video", "webm", 320, 240, ("image/jpeg", 320, 240)),
    "Old_book.djvu": (DJVU.read_bytes(), "BITMAP", "image", "vnd.djvu", 1000, 1500, ("image/jpeg", 500, 750)),
    "Broken_scan.djvu": (b"AT&TFORM\x00\x00\x00\x10DJVUINFO" + bytes(20), "BITMAP", "image", "vnd.djvu", 2000,
                         3000, "failed"),
}
REASONS = {"Evil_logo.svg": "thumbnail: unsafe: SVG references an external resource (file:///etc/passwd): not followed",
           "Jingle.flac": "thumbnail: no visual content",
           "Broken_scan.djvu": "thumbnail: corrupt: DjVu: page 1's INFO chunk is too short"}
FIRST_ID = 900


@pytest.fixture(scope="module")
def extracted(spark, sandbox, tmp_path_factory):
    base = tmp_path_factory.mktemp("kinds")
    client = sandbox.s3_client()
    connection = sandbox.connect_db()
    try:
        with connection.cursor() as cursor:
            for number, (name, (data, media, major, minor, width, height, _)) in enumerate(FILES.items()):
                key = storage_key_for(data, name)
                bucket = sandbox.bucket_for(key)
                if bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
                    client.create_bucket(Bucket=bucket)
                client.put_object(Bucket=bucket, Key=sandbox.object_path(key), Body=data)
                cursor.execute(
                    "INSERT INTO filearchive (fa_id, fa_name, fa_archive_name, fa_storage_group, fa_storage_key, "
                    "fa_deleted_user, fa_deleted_timestamp, fa_deleted_reason_id, fa_size, fa_width, fa_height, "
                    "fa_metadata, fa_bits, fa_media_type, fa_major_mime, fa_minor_mime, fa_description_id, fa_actor, "
                    "fa_timestamp, fa_deleted, fa_sha1) VALUES (%s, %s, NULL, 'deleted', %s, 1, '20240101000000', 1, "
                    "%s, %s, %s, '', 8, %s, %s, %s, 1, 1, '20200101000000', 0, %s)",
                    (FIRST_ID + number, name.encode(), key.encode(), len(data), width, height, media, major,
                     minor.encode(), sha1_base36(data).encode()))
        (base / "kinds.txt").write_text("".join(f"{name}\n" for name in FILES), encoding="utf-8")
        output = base / "kinds"
        run_extract(spark, sandbox_settings(sandbox, output__content="thumbnails"), [str(base / "kinds.txt")],
                    str(output), out=lambda line: None)
        yield {"items": {r["name"]: r for r in dataset.read_items(spark, str(output / "items")).collect()},
               "report": json.loads((output / "report.json").read_text()), "output": output}
    finally:
        connection.close()
        sandbox.seed()  # the seeded catalog and storage again, for the tests after these


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_kind_gets_its_thumbnail_or_says_why_not(extracted, name):
    row = extracted["items"][name]
    expected = FILES[name][-1]
    assert row["status"] == statuses.OK, row["reason"]
    if isinstance(expected, tuple):
        assert row["thumbnail_status"] == "made" and row["reason"] is None
        assert (row["thumbnail_mime"], row["thumbnail_width"], row["thumbnail_height"]) == expected
        im = Image.open(io.BytesIO(row["thumbnail"]))
        assert im.size == expected[1:] and Image.MIME[im.format] == expected[0]
    else:
        assert row["thumbnail_status"] == expected and row["thumbnail"] is None
        assert row["reason"].startswith(REASONS[name])
    if name.endswith(".webm"):  # the frame at the middle of the video (TimedMediaHandler's default)
        colour = Image.open(io.BytesIO(row["thumbnail"])).convert("RGB").getpixel((160, 120))
        assert colour[1] > 150 and colour[0] < 80 and colour[2] < 80, colour


def test_the_report_counts_ok_rows_by_media_type_and_thumbnail_status(extracted):
    counts = extracted["report"]["lists"]["kinds"]["ok_thumbnails"]
    assert counts == {"audio": {"not_visual": 1}, "bitmap": {"failed": 1, "made": 1}, "drawing": {"failed": 1, "made": 1},
                      "office": {"made": 1}, "video": {"made": 1}}
    text = (Path(extracted["output"]) / "report.txt").read_text()
    assert "ok with thumbnail" in text and "ok, thumbnail failed" in text and "ok, nothing to see" in text
    html = (Path(extracted["output"]) / "report.html").read_text()
    assert 'data-thumbnails="kinds"' in html

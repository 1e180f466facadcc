"""Seed data for the sandbox: filearchive rows, objects in Swift, five name lists, ground truth.

The ground truth is the independent oracle the job is tested against, so the expected DB key and
the expected final status of every list line are written BY HAND in LISTS below. Nothing here
uses the project's own modules (names, catalog, layout, ...): a bug there must not be copied into
the expectation. What seed() derives by itself is data, not judgement: sha1, storage keys, sizes
and dimensions of the contents it generates, and the self-check that the hand-written statuses
agree with the rows it wrote and the objects it uploaded.

Expected statuses are the final ones after a full extract with default settings: latest version
(newest fa_deleted_timestamp, ties broken by fa_timestamp then fa_id, both descending), first
letter capitalised, suppression = fa_deleted & 8 on the chosen row (fa_deleted & 1 alone is not
suppression by default), max object size 1 GB.

Ground-truth row fields: `line` (1-based physical line), `requested_name` (the line without its
newline/CR and without a leading BOM, leading/trailing spaces kept; invalid UTF-8 decoded with
errors="replace"), `name` (expected DB key, null when invalid_name), `status`; for rows that
reached the catalog (every status except invalid_name and duplicate) `versions` (filearchive rows
with that fa_name, 0 when none); and for rows with a chosen version that is not suppressed
(no_storage_key, not_in_storage, checksum_mismatch, ok) the chosen row's `fa_id`, `sha1`,
`sha1_hex` (hashlib's hexdigest of the same content), `storage_key`, `size`, `width`, `height`,
`media_type`, `mime`, `uploaded_at`, `deleted_at` (`sha1` and `storage_key` are "" for
no_storage_key, as MediaWiki writes them, and `sha1_hex` is null there), `deleted_reason` and
`description` (the texts of the chosen row's comments, fa_deleted_reason_id/fa_description_id;
both null when the chosen row hides its comments, fa_deleted & 2, which changes no status; an
empty comment text stays ""), and `live_duplicate_of` (the live files, `image`, whose sha1 equals
the chosen row's, sorted and joined with "|"; null when there is none or the sha1 is ""); ok rows
also have `thumbnail` (`status`: made/not_visual/failed, and the thumbnail's `mime`, `width`,
`height` and a `pixel` to look at, or the row's `reason`; from THUMBNAILS, by hand, or the size
rule for rasters). Everything
else is null: suppressed rows reveal nothing but their status and versions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import SandboxError
from .media import encode_video

_THREADS = 8  # the all-in-one saturates 2 cores at about this many requests in flight

COUNT_KEYS = ("requested", "invalid_name", "duplicate", "not_in_filearchive", "suppressed",
              "no_storage_key", "found", "not_in_storage", "checksum_mismatch", "ok", "bytes_found")
FOUND_STATUSES = ("ok", "not_in_storage", "checksum_mismatch")
CATALOG_STATUSES = ("not_in_filearchive", "suppressed", "no_storage_key", *FOUND_STATUSES)
ALL_STATUSES = ("invalid_name", "duplicate", *CATALOG_STATUSES)

# --- contents -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Content:
    data: bytes
    ext: str            # normalised extension of the files holding it
    width: int
    height: int
    media_type: str     # fa_media_type
    major: str          # fa_major_mime
    minor: str          # fa_minor_mime
    bits: int


def sha1_base36(data: bytes) -> str:
    """Return MediaWiki's sha1: lower-case base 36, zero-padded to 31 characters."""
    number = int(hashlib.sha1(data).hexdigest(), 16)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return (out or "0").zfill(31)


_EXT_ALIASES = {"jpeg": "jpg", "tiff": "tif", "mpeg": "mpg", "htm": "html", "ogv": "ogg"}


def storage_key_for(sha1: str, name: str) -> str:
    """Return `<sha1>.<normalised extension of name>` as MediaWiki writes fa_storage_key."""
    ext = name.rsplit(".", 1)[1].lower() if "." in name else ""
    ext = _EXT_ALIASES.get(ext, ext)
    if ext and all(c in "0123456789abcdefghijklmnopqrstuvwxyz" for c in ext):
        return f"{sha1}.{ext}"
    return sha1


def _sample_dir() -> Path:
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise SandboxError("matplotlib not found: pip install matplotlib (requirements-dev.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "sample_data"


def _minimal_pdf() -> bytes:
    """Return a small valid one-page PDF (612 x 792 pt)."""
    text = b"BT /F1 24 Tf 72 700 Td (Brand guidelines - sandbox) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
    return crc


def _minimal_ogg() -> bytes:
    """Return an Ogg page holding a Vorbis identification header (not playable; not an image)."""
    packet = (b"\x01vorbis" + struct.pack("<IBIiii", 0, 1, 44100, 0, 128000, 0) + b"\xb8\x01")
    header = struct.pack("<4sBBqIII", b"OggS", 0, 0x02, 0, 0x5A4E4442, 0, 0)
    page = header + bytes([1, len(packet)]) + packet
    crc = _ogg_crc(page)
    return page[:22] + struct.pack("<I", crc) + page[26:]


# A logo as Commons holds many: SVG sized in millimetres (240 x 120 mm = 907.09 x 453.54 px at 96 dpi;
# MediaWiki records 907 x 454).
_SVG_LOGO = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
             b'<svg xmlns="http://www.w3.org/2000/svg" width="240mm" height="120mm" viewBox="0 0 240 120">'
             b'<defs><linearGradient id="sky" x1="0" x2="1"><stop offset="0" stop-color="#0b5"/>'
             b'<stop offset="1" stop-color="#07c"/></linearGradient></defs>'
             b'<rect width="240" height="120" fill="url(#sky)"/>'
             b'<circle cx="60" cy="60" r="36" fill="#fff"/><rect x="120" y="30" width="90" height="60" fill="#fd0"/>'
             b'</svg>\n')


# A scanned book as a bundled two-page DjVu; page 1 is 1000 x 1500, red above blue. Made once by
# tests/fixtures/djvu/make_fixtures.sh (DjVuLibre's encoders have no wheel) and kept in the tree.
_DJVU_BOOK = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "djvu" / "red_blue_2p_bundled.djvu"


def _screen_recording() -> bytes:
    """Return a 3 s, 640 x 360 WebM (VP8, 10 fps): red, green, then blue, a white square moving."""
    from PIL import Image, ImageDraw

    frames = []
    for i in range(30):
        frame = Image.new("RGB", (640, 360), (200, 30, 30) if i < 10 else (30, 160, 60) if i < 20 else (30, 60, 200))
        ImageDraw.Draw(frame).rectangle((40 + i * 10, 140, 120 + i * 10, 220), fill=(255, 255, 255))
        frames.append(frame)
    return encode_video(frames, options={"threads": "1", "deadline": "good", "cpu-used": "4"})


def build_contents() -> dict[str, Content]:
    """Return every content of the seed by id (deterministic bytes: same sha1 on every seed)."""
    from PIL import Image

    sample = _sample_dir()
    try:
        grace_bytes = (sample / "grace_hopper.jpg").read_bytes()
        minduka_bytes = (sample / "Minduka_Present_Blue_Pack.png").read_bytes()
        logo2_bytes = (sample / "logo2.png").read_bytes()
    except OSError as error:
        raise SandboxError(f"matplotlib sample images missing ({error.filename}): pip install matplotlib") from None
    grace = Image.open(io.BytesIO(grace_bytes)).convert("RGB")  # 512 x 600
    logo2 = Image.open(io.BytesIO(logo2_bytes))
    logo2.load()

    def encode(image, fmt, **options) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        return buffer.getvalue()

    def bitmap(data: bytes, ext: str, minor: str, size=None) -> Content:
        width, height = size or Image.open(io.BytesIO(data)).size
        return Content(data, ext, width, height, "BITMAP", "image", minor, 8)

    def jpeg(image, quality=85, **options) -> Content:
        return bitmap(encode(image, "JPEG", quality=quality, **options), "jpg", "jpeg")

    def png(image) -> Content:
        return bitmap(encode(image, "PNG", optimize=False), "png", "png")

    contents: dict[str, Content] = {
        "grace": bitmap(grace_bytes, "jpg", "jpeg"),                                   # 512 x 600
        "grace_crop_300": jpeg(grace.crop((106, 60, 406, 360))),                       # < 500 wide
        "grace_big": jpeg(grace.resize((1400, 1641), Image.Resampling.LANCZOS), 80),   # >= 1200 wide
        "grace_png": png(grace),
        "grace_gif": bitmap(encode(grace.resize((256, 300)).quantize(64), "GIF"), "gif", "gif"),
        "grace_webp": bitmap(encode(grace, "WEBP", quality=80, method=4), "webp", "webp"),
        "grace_tiff": bitmap(encode(grace.resize((400, 469)), "TIFF", compression="tiff_lzw"),
                             "tif", "tiff"),
        "grace_rot90": jpeg(grace.transpose(Image.Transpose.ROTATE_90)),               # 600 x 512
        "grace_gray": jpeg(grace.convert("L")),
        "grace_small": jpeg(grace.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((200, 234))),
        "minduka": bitmap(minduka_bytes, "png", "png"),                                # RGBA 128
        "logo2": bitmap(logo2_bytes, "png", "png"),                                    # RGBA 542 x 130
        "logo2_crop": png(logo2.crop((0, 0, 271, 130))),
        "pdf": Content(_minimal_pdf(), "pdf", 612, 792, "OFFICE", "application", "pdf", 0),
        "ogg": Content(_minimal_ogg(), "ogg", 0, 0, "AUDIO", "application", "ogg", 0),
        "svg": Content(_SVG_LOGO, "svg", 907, 454, "DRAWING", "image", "svg+xml", 0),
        "webm": Content(_screen_recording(), "webm", 640, 360, "VIDEO", "video", "webm", 0),
        "djvu": Content(_DJVU_BOOK.read_bytes(), "djvu", 1000, 1500, "BITMAP", "image", "vnd.djvu", 0),
    }
    # A phone photo: pixels stored sideways with EXIF Orientation 6 (rotate 90 clockwise to view).
    # MediaWiki records the displayed size, so width/height are swapped against the stored pixels.
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = grace.transpose(Image.Transpose.FLIP_LEFT_RIGHT).transpose(Image.Transpose.ROTATE_90)
    exif_bytes = encode(stored, "JPEG", quality=85, exif=exif.tobytes())
    contents["grace_exif6"] = bitmap(exif_bytes, "jpg", "jpeg", size=(stored.height, stored.width))
    # Small distinct crops for the many versions and corner cases.
    for i in range(1, 27):
        x, y = (i * 37) % 330, (i * 53) % 420
        contents[f"tile_j{i}"] = jpeg(grace.crop((x, y, x + 160 + i, y + 150)))
    for i in range(1, 6):
        x, y = (i * 61) % 300, (i * 29) % 400
        contents[f"tile_p{i}"] = png(grace.crop((x, y, x + 120, y + 100 + i)))
    return contents


# --- filearchive (fa_id is ours and stable) --------------------------------------------------------


@dataclass(frozen=True)
class Row:
    fa_id: int
    name: str                 # fa_name, the DB key (NFC)
    content: str              # id in build_contents()
    uploaded: str             # fa_timestamp
    deleted: str              # fa_deleted_timestamp
    fa_deleted: int = 0
    storage: str = "stored"   # stored | missing (row, no object) | corrupt (bytes != fa_sha1) | no_key
    archive_name: str | None = None   # "<ts>!<name>" for a deleted old version
    reason: str = "scope"          # key in REASONS (fa_deleted_reason_id)
    description: str = "own_work"  # key in DESCRIPTIONS (fa_description_id)


# `comment` rows: key -> (comment_id, comment_text). Production stores each distinct text once,
# so rows share comment ids, and the empty text is one comment whether used as reason or
# description. fa_deleted & 2 (DELETED_COMMENT) hides both texts of a row.
REASONS: dict[str, tuple[int, str]] = {
    "none": (1, ""),
    "copyvio": (11, "Copyright violation: album cover, non-free"),
    "copyvio_de": (12, "Urheberrechtsverletzung \u2013 Plattencover"),
    "scope": (13, "Out of [[COM:SCOPE|project scope]]"),
    "dup_live": (14, "Duplicate of [[File:Live_photo.jpg]]"),
    "dr_logos": (15, "Per [[Commons:Deletion requests/Logos]]"),
    "no_source": (16, "No source since 3 May 2021"),
    # Names another seeded file (a purge of it must clear this text and keep the row).
    "dup_foo": (17, "Duplicate of [[File:Foo bar.jpg]]"),
}
DESCRIPTIONS: dict[str, tuple[int, str]] = {
    "none": (1, ""),
    "own_work": (20, "Own work"),
    "cover": (21, "Album cover, scanned by the uploader"),
    "camel": (22, "Front cover of O'Reilly's \"Camel\" book.\nScanned at 300 dpi."),
    "book_scan": (23, "Scan of a public-domain book page"),
    "elan": (24, "\u00c9lan vital \u2013 premi\u00e8re \u00e9dition"),
    "logo": (25, "{{Information\n|description=Company logo\n|source=Own work\n}}"),
    "screenshot": (26, "Screenshot, own work"),
    "photo": (27, "Photo taken with my phone"),
    "sound": (28, "Startup sound (Ogg Vorbis)"),
    "wall": (29, "The Wall (1979) \u2013 cover art"),
    "same_as_dont": (32, "Same cover as [[File:Don't.jpg]], cropped"),  # names another seeded file
}
# Comments no filearchive row points to (other tables' comments in production).
NOISE_COMMENTS: dict[int, str] = {
    30: "Per [[Commons:Deletion requests/Old screenshots]]",
    31: "Restored: [[COM:UNDEL|undeletion request]] granted",
    40: "Uploaded a work by an unknown author",
}


_E = "\u20ac"  # 3 bytes in UTF-8
NAME_255 = "Long_title_" + _E * 78 + "abcdef.jpg"     # 255 bytes of UTF-8, 99 characters
NAME_256_LINE = "long title " + _E * 78 + "abcdefg.jpg"  # its key is 256 bytes: invalid

FILEARCHIVE: list[Row] = [
    # album_covers
    Row(1, "Foo_bar.jpg", "tile_j1", "20150301120000", "20160101000000", storage="missing",
        reason="copyvio", description="cover"),
    Row(2, "Foo_bar.jpg", "grace", "20180505101010", "20200202020202",
        reason="copyvio", description="cover"),
    Row(3, "Foo_Bar.jpg", "tile_j2", "20190101000000", "20230303030303",
        reason="copyvio", description="cover"),  # noise: case only
    Row(4, "Don't.jpg", "grace_crop_300", "20170707070707", "20210707070707",
        reason="copyvio", description="cover"),
    Row(5, "Caf\u00e9_del_Mar.jpg", "grace_gray", "20160606060606", "20220202020202",
        reason="copyvio_de", description="same_as_dont"),
    Row(6, "The_Wall_(1979).jpg", "tile_j3", "20110101000000", "20230101000000", fa_deleted=15,
        reason="copyvio", description="wall"),
    Row(7, "Nevermind_baby.jpg", "tile_j4", "20140202020202", "20220303030303", storage="missing",
        reason="dup_foo", description="cover"),
    Row(8, "Thriller_1982.jpg", "tile_j5", "20130303030303", "20220404040404", storage="corrupt",
        reason="copyvio", description="cover"),
    Row(9, "Lost_album.jpg", "tile_j6", "20100101000000", "20190101000000", storage="no_key",
        reason="copyvio", description="cover"),
    Row(10, "100%_pure.jpg", "grace_small", "20180808080808", "20220808080808",
        reason="dup_live", description="photo"),
    Row(11, "Smile_\U0001F600_album.png", "minduka", "20190909090909", "20230909090909",
        description="cover"),
    # books
    Row(12, "Moby_dick.tif", "grace_tiff", "20150505050505", "20210505050505",
        reason="no_source", description="book_scan"),
    # Elan_vital: the deletion reason and description are hidden (2), the file is not -> ok.
    Row(13, "\u00c9lan_vital.jpg", "tile_j7", "20160101010101", "20210101010101", fa_deleted=2,
        reason="no_source", description="elan"),
    Row(14, "Old_scan_\\_page_1.jpg", "tile_j8", "20090909090909", "20200909090909",
        reason="no_source", description="book_scan"),
    Row(15, "O'Reilly_\"Camel\"_book.jpg", "tile_j9", "20111111111111", "20211111111111",
        reason="no_source", description="camel"),
    # The_Hobbit: the winner (newest deletion) has neither the highest fa_id nor the newest upload.
    Row(16, "The_Hobbit.jpg", "tile_j10", "20200101000000", "20210101000000", description="book_scan"),
    Row(17, "The_Hobbit.jpg", "tile_j11", "20100101000000", "20220606060606",
        reason="no_source", description="book_scan"),
    Row(18, "The_Hobbit.jpg", "tile_j12", "20050101000000", "20060101000000", description="book_scan"),
    # Dracula: the newest deletion is suppressed, an older clean one exists -> suppressed.
    Row(19, "Dracula.jpg", "tile_j13", "20120101000000", "20150101000000", description="book_scan"),
    Row(20, "Dracula.jpg", "tile_j14", "20160101000000", "20230505050505", fa_deleted=15,
        description="book_scan"),
    # Frankenstein: an older deletion was suppressed, the newest only hides content (1) -> ok.
    Row(21, "Frankenstein.jpg", "tile_j15", "20120202020202", "20140202020202", fa_deleted=15,
        description="book_scan"),
    Row(22, "Frankenstein.jpg", "tile_j16", "20150202020202", "20220202020202", fa_deleted=1,
        reason="no_source", description="book_scan"),
    # Emma: current and old version deleted together (same fa_deleted_timestamp): the newer
    # upload wins; the old version has the higher fa_id and no storage key.
    Row(23, "Emma.jpg", "tile_j17", "20180101000000", "20190909090909", fa_deleted=6,
        reason="no_source", description="book_scan"),
    Row(24, "Emma.jpg", "tile_j18", "20170101000000", "20190909090909", storage="no_key",
        archive_name="20180101000000!Emma.jpg", reason="no_source", description="book_scan"),
    # Persuasion: same deletion and upload timestamps: the higher fa_id wins.
    Row(25, "Persuasion.jpg", "tile_j19", "20160101000000", "20200101000000", storage="no_key",
        reason="no_source", description="book_scan"),
    Row(26, "Persuasion.jpg", "tile_j20", "20160101000000", "20200101000000",
        reason="no_source", description="book_scan"),
    Row(27, NAME_255, "tile_j21", "20170303030303", "20230303030303", description="book_scan"),
    # logos
    Row(28, "Logo2.png", "logo2", "20140404040404", "20200404040404",
        reason="dr_logos", description="logo"),
    Row(29, "LOGO2.png", "logo2_crop", "20150404040404", "20240404040404",
        reason="dr_logos", description="logo"),  # noise: case only
    Row(30, "Present_logo.png", "minduka", "20130404040404", "20210404040404",
        reason="dr_logos", description="logo"),  # shares content
    Row(31, "Company_logo.gif", "grace_gif", "20120404040404", "20190404040404",
        reason="dr_logos", description="logo"),
    Row(32, "Logo.webp", "grace_webp", "20190404040404", "20220404040404",
        reason="dr_logos", description="logo"),
    Row(33, "Emblem.png", "grace_png", "20100404040404", "20180404040404",
        reason="dr_logos", description="logo"),
    Row(34, "Brand_guidelines.pdf", "pdf", "20160404040404", "20230404040404",
        reason="dr_logos", description="logo"),
    Row(35, "Secret_logo.png", "tile_p1", "20170404040404", "20230606060606", fa_deleted=9,
        reason="dr_logos", description="logo"),
    Row(36, "Logo_with_spaces.png", "tile_p2", "20180404040404", "20220707070707",
        reason="dr_logos", description="logo"),
    # screenshots
    Row(37, "Screenshot_2019-01-01.png", "tile_p3", "20190101000000", "20190202000000",
        description="screenshot"),
    Row(38, "Screenshot_big.jpg", "grace_big", "20190303000000", "20200303000000",
        description="screenshot"),
    Row(39, "Rotated_screenshot.jpg", "grace_rot90", "20190404000000", "20200404000000",
        description="screenshot"),
    Row(40, "Phone_photo_exif.jpeg", "grace_exif6", "20190505000000", "20200505000000",
        description="photo"),
    Row(41, "Screen_capture.jpg", "tile_j22", "20190606000000", "20200606000000", description="none"),
    Row(42, "Logo_in_screenshot.png", "logo2", "20190707000000", "20200707000000",
        description="screenshot"),  # shares content
    Row(43, "Screenshot_missing.png", "tile_p4", "20190808000000", "20200808000000", storage="missing",
        description="screenshot"),
    Row(44, "Startup_sound.ogg", "ogg", "20190909000000", "20200909000000",
        reason="none", description="sound"),
    # noise nobody asks for
    Row(45, "Unrelated_noise.jpg", "tile_j23", "20080808080808", "20090909090909"),
    Row(46, "Another_noise.png", "tile_p5", "20080808080808", "20100101010101", fa_deleted=15),
    Row(47, "Don't_(2).jpg", "tile_j24", "20080808080808", "20110101010101", storage="missing"),
    # Files drawn by other thumbnailers than Pillow's (requested at the end of their lists).
    Row(48, "Company_logo.svg", "svg", "20170505050505", "20240505050505",
        reason="dr_logos", description="logo"),
    Row(49, "Screen_recording.webm", "webm", "20191010101010", "20201010101010",
        description="screenshot"),
    Row(50, "Old_book_scan.djvu", "djvu", "20120606060606", "20220606060606",
        reason="no_source", description="book_scan"),
]

# What an extract's thumbnailer gives each content that is not a plain raster image, by hand from
# the size rule (width 500, height rounded half up, never upscaled) and the media type: made
# (MIME type, width, height, and a pixel (x, y) with its colour, give or take JPEG's error) or
# the thumbnail_status and reason. Raster contents are "made" at the size rule of their size.
THUMBNAILS: dict[str, tuple] = {
    "pdf": ("made", "image/jpeg", 500, 647, (250, 400), (255, 255, 255)),  # page 1 (612 x 792 pt): paper
    "svg": ("made", "image/png", 500, 250, (125, 125), (255, 255, 255)),   # to PNG; the disc's centre
    "webm": ("made", "image/jpeg", 500, 281, (450, 50), (30, 160, 60)),    # the frame at 1.5 s: green
    "djvu": ("made", "image/jpeg", 500, 750, (250, 100), (255, 0, 0)),     # page 1 of 2: red above blue
    "ogg": ("not_visual", "thumbnail: no visual content"),
}

# Live files (`image`) and their old versions (`oldimage`): not in filearchive (one undeleted since).
IMAGE = [("Undeleted_cover.jpg", "tile_j25", "20230101000000"),
         ("Live_photo.jpg", "grace_small", "20220101000000")]
# (name, archive name, content, uploaded, oi_deleted): the second's file is hidden (oi_deleted & 1),
# so MediaWiki moved it to the deleted zone under its sha1 key.
OLDIMAGE = [("Undeleted_cover.jpg", "20230101000000!Undeleted_cover.jpg", "tile_j2", "20150101000000", 0),
            ("Live_photo.jpg", "20220101000000!Live_photo.jpg", "tile_j26", "20180101000000", 1)]

# A file deleted since, which the migrated tables still hold (file_deleted = 1): no control.
FILE_TABLES_DELETED = "Deleted_since.jpg"
# The uploaders' descriptions of live files and old versions (img_description_id, oi_description_id).
LIVE_DESCRIPTIONS = {"Undeleted_cover.jpg": "cover", "Live_photo.jpg": "photo",
                     "20230101000000!Undeleted_cover.jpg": "own_work", "20220101000000!Live_photo.jpg": "photo"}


def public_object(wiki_id: str, name: str, archive_name: str | None = None) -> tuple[str, str]:
    """Return (container, object) of a live file (or of one of its old versions) in the public zone.

    Written here from the storage notes, apart from the package's layout module, so that the
    sandbox checks that module instead of sharing its mistakes.
    """
    h = hashlib.md5(name.encode("utf-8")).hexdigest()
    path = f"archive/{h[0]}/{h[:2]}/{archive_name}" if archive_name else f"{h[0]}/{h[:2]}/{name}"
    return f"{wiki_id}-local-public.{h[:2]}", path

# --- the lists: every line, its expected DB key and expected final status, by hand --------------


@dataclass(frozen=True)
class Line:
    raw: str | bytes        # the line without its newline (bytes: not valid UTF-8)
    name: str | None = None
    status: str | None = None   # None: blank or comment line, not requested


def _c(raw: str) -> Line:
    return Line(raw)


@dataclass(frozen=True)
class ListFile:
    lines: list[Line]
    bom: bool = False
    newline: str = "\n"
    final_newline: bool = True


LISTS: dict[str, ListFile] = {
    "album_covers": ListFile(bom=True, lines=[
        Line("File:Foo bar.jpg", "Foo_bar.jpg", "ok"),                      # after the BOM
        _c("# Album covers from the March deletion request"),
        Line("foo_bar.jpg", "Foo_bar.jpg", "duplicate"),
        Line("Don&#39;t.jpg", "Don't.jpg", "ok"),
        Line("Caf\u00e9 del Mar.jpg", "Caf\u00e9_del_Mar.jpg", "ok"),       # NFC
        _c(""),
        Line("  The   Wall__(1979).jpg  ", "The_Wall_(1979).jpg", "suppressed"),
        Line("Image:Nevermind baby.jpg", "Nevermind_baby.jpg", "not_in_storage"),
        Line("Thriller_1982.jpg", "Thriller_1982.jpg", "checksum_mismatch"),
        Line("Lost album.jpg", "Lost_album.jpg", "no_storage_key"),
        Line("Never deleted cover.jpg", "Never_deleted_cover.jpg", "not_in_filearchive"),
        Line("File:Undeleted cover.jpg", "Undeleted_cover.jpg", "not_in_filearchive"),
        Line("100%_pure.jpg", "100%_pure.jpg", "ok"),
        Line("Smile \U0001F600 album.png", "Smile_\U0001F600_album.png", "ok"),
        _c("   # an indented comment"),
        Line("Category:Album covers", None, "invalid_name"),
        Line("Sgt. Pepper|cover.jpg", None, "invalid_name"),
        Line("FILE:Don't.jpg", "Don't.jpg", "duplicate"),
        _c("    "),
    ]),
    "books": ListFile(lines=[
        _c("# Book scans"),
        Line("file:moby dick.tif", "Moby_dick.tif", "ok"),
        Line("Cafe\u0301 del Mar.jpg", "Caf\u00e9_del_Mar.jpg", "ok"),      # NFD
        Line("\u00e9lan vital.jpg", "\u00c9lan_vital.jpg", "ok"),
        Line("Old scan \\ page 1.jpg", "Old_scan_\\_page_1.jpg", "ok"),
        Line("O'Reilly \"Camel\" book.jpg", "O'Reilly_\"Camel\"_book.jpg", "ok"),
        Line("The Hobbit.jpg", "The_Hobbit.jpg", "ok"),
        Line("Dracula.jpg", "Dracula.jpg", "suppressed"),
        Line("Frankenstein.jpg", "Frankenstein.jpg", "ok"),
        Line("Emma.jpg", "Emma.jpg", "ok"),
        Line("Persuasion.jpg", "Persuasion.jpg", "ok"),
        _c(""),
        Line("File:long title " + _E * 78 + "abcdef.jpg", NAME_255, "ok"),
        Line(NAME_256_LINE, None, "invalid_name"),
        Line(b"Bad \xff\xfe bytes.jpg", None, "invalid_name"),
        Line("File:Moby_dick.tif", "Moby_dick.tif", "duplicate"),
        Line("The hobbit.jpg", "The_hobbit.jpg", "not_in_filearchive"),
        Line("Old book scan.djvu", "Old_book_scan.djvu", "ok"),
    ]),
    "logos": ListFile(lines=[
        Line("Logo2.png", "Logo2.png", "ok"),
        Line("File : Present logo.png", "Present_logo.png", "ok"),
        Line("Image:Company_logo.gif", "Company_logo.gif", "ok"),
        Line("logo.webp", "Logo.webp", "ok"),
        Line(":File:Emblem.png", "Emblem.png", "ok"),
        Line("Brand guidelines.pdf", "Brand_guidelines.pdf", "ok"),
        Line("Secret logo.png", "Secret_logo.png", "suppressed"),
        Line("Old logo.svg", "Old_logo.svg", "not_in_filearchive"),
        _c("# names to reject or merge"),
        Line("Brand<new>.png", None, "invalid_name"),
        Line("File:Emblem.png", "Emblem.png", "duplicate"),
        Line("Logo \u00a0 with\u3000spaces.png", "Logo_with_spaces.png", "ok"),
        Line("Logo\u200e2.png", "Logo2.png", "duplicate"),
        Line("\U0001F600 icon.png", "\U0001F600_icon.png", "not_in_filearchive"),
        _c(""),
        Line("Company logo.svg", "Company_logo.svg", "ok"),
    ]),
    "screenshots": ListFile(newline="\r\n", final_newline=False, lines=[
        Line("https://commons.wikimedia.org/wiki/File:Foo_bar.jpg", "Foo_bar.jpg", "ok"),
        Line("Screenshot 2019-01-01.png", "Screenshot_2019-01-01.png", "ok"),
        Line("File:Screenshot_big.jpg", "Screenshot_big.jpg", "ok"),
        Line("rotated screenshot.jpg", "Rotated_screenshot.jpg", "ok"),
        Line("Phone photo exif.jpeg", "Phone_photo_exif.jpeg", "ok"),
        Line("File:Screen capture.jpg#top", "Screen_capture.jpg", "ok"),
        Line("Logo in screenshot.png", "Logo_in_screenshot.png", "ok"),
        Line("Screenshot__missing.png", "Screenshot_missing.png", "not_in_storage"),
        _c("   "),
        Line("File:Screenshot 2019-01-01.png", "Screenshot_2019-01-01.png", "duplicate"),
        Line("Startup sound.ogg", "Startup_sound.ogg", "ok"),
        _c("# rejected"),
        Line("Talk:Screenshot.png", None, "invalid_name"),
        Line("Screenshot ~~~ signature.png", None, "invalid_name"),
        Line("./Screenshot.png", None, "invalid_name"),
        Line("File:Screen recording.webm", "Screen_recording.webm", "ok"),
    ]),
    "out_of_domain": ListFile(lines=[
        _c("# Mostly not file names"),
        Line("Category:Foo", None, "invalid_name"),
        Line("Template:Delete", None, "invalid_name"),
        Line("User:Example/gallery", None, "invalid_name"),
        Line("File talk:Foo bar.jpg", None, "invalid_name"),
        Line("Special:Upload", None, "invalid_name"),
        Line("File:", None, "invalid_name"),
        Line("Foo|bar.jpg", None, "invalid_name"),
        Line("<script>.jpg", None, "invalid_name"),
        # A wikilink, as deletion requests write them: unwrapped (names.py documents this form).
        Line("[[File:Foo bar.jpg]]", "Foo_bar.jpg", "ok"),
        Line("../etc/passwd", None, "invalid_name"),
        Line("Book%20scan.jpg", None, "invalid_name"),
        Line("%20", None, "invalid_name"),
        _c(""),
        Line("Random holiday photo.jpg", "Random_holiday_photo.jpg", "not_in_filearchive"),
        Line("Foo bar.jpg", "Foo_bar.jpg", "duplicate"),
        Line("Image:foo_bar.jpg", "Foo_bar.jpg", "duplicate"),
    ]),
}

# --- building ------------------------------------------------------------------------------------


def _metadata(row: Row, content: Content) -> bytes:
    """Return a non-trivial fa_metadata blob: the job must never select this column."""
    if content.minor == "pdf":
        # PDF text layers make this column huge in production.
        text = " ".join(f"page-1 word {i} of the brand guidelines" for i in range(8000))
        return json.dumps({"data": {"Pages": "1", "text": [text]}}).encode()
    if row.fa_id % 5 == 0:
        # Legacy PHP-serialised metadata with raw bytes (not valid UTF-8).
        return b'a:2:{s:8:"Software";s:4:"\xff\xfe\x00\x01";s:15:"MEDIAWIKI_EXIF_VERSION";i:2;}'
    return json.dumps({"data": {"width": content.width, "height": content.height,
                                "fa_id": row.fa_id, "padding": "x" * 2000}}).encode()


def _row_facts(row: Row, contents: dict[str, Content]) -> dict:
    content = contents[row.content]
    if row.storage == "no_key":
        sha1 = key = ""  # MediaWiki writes an empty key (and sha1) when the file was lost
        sha1_hex = None
    else:
        sha1 = sha1_base36(content.data)
        sha1_hex = hashlib.sha1(content.data).hexdigest()
        key = storage_key_for(sha1, row.name)
    return {"sha1": sha1, "sha1_hex": sha1_hex, "storage_key": key, "size": len(content.data),
            "content": content}


def _choose(rows: list[Row]) -> Row:
    """Return the latest version: newest deletion, then newest upload, then highest fa_id."""
    return max(rows, key=lambda r: (r.deleted, r.uploaded, r.fa_id))


def _derived_status(rows: list[Row]) -> str:
    """Return the status the rows we wrote imply (cross-checks the hand-written one)."""
    if not rows:
        return "not_in_filearchive"
    chosen = _choose(rows)
    if chosen.fa_deleted & 8:
        return "suppressed"
    return {"no_key": "no_storage_key", "missing": "not_in_storage",
            "corrupt": "checksum_mismatch", "stored": "ok"}[chosen.storage]


def _comments() -> dict[int, str]:
    """Return {comment_id: text} of every comment row (REASONS, DESCRIPTIONS and the noise)."""
    comments: dict[int, str] = {}
    for comment_id, text in [*REASONS.values(), *DESCRIPTIONS.values(), *NOISE_COMMENTS.items()]:
        if comments.setdefault(comment_id, text) != text:
            raise SandboxError(f"seed table: comment {comment_id} has two texts")
    if len(set(comments.values())) != len(comments):
        raise SandboxError("seed table: one comment text under two ids (production stores it once)")
    return comments


def _comment_texts(row: Row) -> tuple[str | None, str | None]:
    """Return the (deletion reason, description) a reader may see: (None, None) when hidden."""
    if row.fa_deleted & 2:
        return None, None
    return REASONS[row.reason][1], DESCRIPTIONS[row.description][1]


def _live_duplicates(sha1: str, contents: dict[str, Content], but: str | None = None) -> str | None:
    """Return the live files (IMAGE) with this sha1 (but the one named `but`: a live file is no
    duplicate of itself), sorted and joined with "|", or None."""
    if not sha1:
        return None
    names = sorted(name for name, content_id, _ in IMAGE
                   if sha1_base36(contents[content_id].data) == sha1 and name != but)
    return "|".join(names) or None


def _expected_thumbnail(content_id: str, content: Content) -> dict:
    """Return what an ok row's thumbnail columns hold: thumbnail_status, and the thumbnail's MIME
    type (None: either, for rasters), width and height, or the row's reason."""
    declared = THUMBNAILS.get(content_id)
    if declared is not None and declared[0] != "made":
        return {"status": declared[0], "mime": None, "width": None, "height": None, "reason": declared[1],
                "pixel": None}
    if declared is not None:
        _, mime, width, height, at, colour = declared
        pixel = {"x": at[0], "y": at[1], "rgb": list(colour)}
    else:  # a raster: 500 px wide, the height rounded half up (exactly), never upscaled
        pixel, mime, (width, height) = None, None, (
            (content.width, content.height) if content.width <= 500 else
            (500, max(1, (2 * content.height * 500 + content.width) // (2 * content.width))))
    return {"status": "made", "mime": mime, "width": width, "height": height, "reason": None, "pixel": pixel}


def _line_bytes(line: Line) -> bytes:
    return line.raw if isinstance(line.raw, bytes) else line.raw.encode("utf-8")


def write_lists(lists_dir: Path) -> dict[str, Path]:
    """Write the five list files; return their paths by list name."""
    lists_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for list_name, spec in LISTS.items():
        newline = spec.newline.encode()
        body = newline.join(_line_bytes(line) for line in spec.lines)
        if spec.final_newline:
            body += newline
        if spec.bom:
            body = b"\xef\xbb\xbf" + body
        path = lists_dir / f"{list_name}.txt"
        path.write_bytes(body)
        paths[list_name] = path
    return paths


def build_truth(wiki_id: str, paths: dict[str, Path], contents: dict[str, Content]) -> dict:
    """Return the ground truth dict from the hand-written LISTS and the FILEARCHIVE rows."""
    by_name: dict[str, list[Row]] = {}
    for row in FILEARCHIVE:
        by_name.setdefault(row.name, []).append(row)
    truth_lists = {}
    totals = dict.fromkeys(COUNT_KEYS, 0)
    for list_name, spec in LISTS.items():
        counts = dict.fromkeys(COUNT_KEYS, 0)
        rows_out = []
        for number, line in enumerate(spec.lines, start=1):
            if line.status is None:
                continue
            if line.status not in ALL_STATUSES:
                raise SandboxError(f"seed table: unknown status {line.status!r} ({list_name}:{number})")
            requested = (line.raw.decode("utf-8", errors="replace") if isinstance(line.raw, bytes)
                         else line.raw)
            out = {"line": number, "requested_name": requested, "name": line.name,
                   "status": line.status, "fa_id": None, "sha1": None, "sha1_hex": None,
                   "storage_key": None,
                   "size": None, "versions": None, "width": None, "height": None,
                   "media_type": None, "mime": None, "uploaded_at": None, "deleted_at": None,
                   "deleted_reason": None, "description": None, "live_duplicate_of": None,
                   "thumbnail": None}
            counts["requested"] += 1
            if line.status in CATALOG_STATUSES:
                versions = by_name.get(line.name, [])
                out["versions"] = len(versions)
                # Suppressed material shows nothing but its status (and how many versions exist).
                if versions and line.status != "suppressed":
                    chosen = _choose(versions)
                    facts = _row_facts(chosen, contents)
                    content = facts["content"]
                    out.update(fa_id=chosen.fa_id, sha1=facts["sha1"], sha1_hex=facts["sha1_hex"],
                               storage_key=facts["storage_key"], size=facts["size"],
                               width=content.width, height=content.height,
                               media_type=content.media_type,
                               mime=f"{content.major}/{content.minor}",
                               uploaded_at=chosen.uploaded, deleted_at=chosen.deleted)
                    out["deleted_reason"], out["description"] = _comment_texts(chosen)
                    out["live_duplicate_of"] = _live_duplicates(facts["sha1"], contents)
                    if line.status == "ok":
                        out["thumbnail"] = _expected_thumbnail(chosen.content, content)
            counts[line.status] += 1
            if line.status in FOUND_STATUSES:
                counts["found"] += 1
                counts["bytes_found"] += out["size"]
            rows_out.append(out)
        truth_lists[list_name] = {"path": str(paths[list_name]), "counts": counts, "rows": rows_out}
        for key in COUNT_KEYS:
            totals[key] += counts[key]
    return {"wiki_id": wiki_id, "lists": truth_lists, "totals": totals, "controls": _control_truth(contents)}


def _control_truth(contents: dict[str, Content]) -> dict:
    """Return the live files (`live`) and old versions (`old`) as an extract of them reads them
    (catalog.files live / old): every catalog column, by name (old: by archive name)."""
    def facts(name, content_id, uploaded, archive_name=None, hidden=False):
        content = contents[content_id]
        sha1 = sha1_base36(content.data)
        description = DESCRIPTIONS[LIVE_DESCRIPTIONS[archive_name or name]][1]
        return {"name": name, "archive_name": archive_name, "sha1": sha1,
                "sha1_hex": hashlib.sha1(content.data).hexdigest(),
                # Only a hidden old version has a key: MediaWiki moved its file to the deleted zone.
                "storage_key": storage_key_for(sha1, name) if hidden else None,
                "size": len(content.data), "width": content.width, "height": content.height,
                "media_type": content.media_type, "mime": f"{content.major}/{content.minor}",
                "uploaded_at": uploaded, "deleted_at": None, "deleted_reason": None,
                "description": description,
                "live_duplicate_of": _live_duplicates(sha1, contents, but=name if archive_name is None else None),
                "status": "ok"}
    return {"live": [facts(name, content_id, uploaded) for name, content_id, uploaded in IMAGE],
            "old": [facts(name, content_id, uploaded, archive_name, bool(oi_deleted & 1))
                    for name, archive_name, content_id, uploaded, oi_deleted in OLDIMAGE]}


# --- writing to the services ---------------------------------------------------------------------


def _fill_database(sandbox, contents: dict[str, Content]) -> None:
    sandbox.mariadb.recreate_tables()
    fa_rows = []
    for row in FILEARCHIVE:
        facts = _row_facts(row, contents)
        content = facts["content"]
        fa_rows.append((
            row.fa_id, row.name.encode(), row.archive_name.encode() if row.archive_name else None,
            b"deleted", facts["storage_key"].encode(), 100 + row.fa_id % 7, row.deleted.encode(),
            REASONS[row.reason][0], facts["size"], content.width, content.height,
            _metadata(row, content), content.bits, content.media_type, content.major,
            content.minor.encode(), DESCRIPTIONS[row.description][0], 300 + row.fa_id % 11,
            row.uploaded.encode(),
            row.fa_deleted, facts["sha1"].encode(),
        ))
    # comment_hash: any int does (MediaWiki's is a crc32 of text and data); nothing reads it here.
    comment_rows = [(comment_id, zlib.crc32(text.encode()) & 0x7FFFFFFF, text.encode())
                    for comment_id, text in sorted(_comments().items())]
    conn = sandbox.connect_db()
    try:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO comment (comment_id, comment_hash, comment_text) "
                            "VALUES (%s, %s, %s)", comment_rows)
            cur.executemany(
                "INSERT INTO filearchive (fa_id, fa_name, fa_archive_name, fa_storage_group, "
                "fa_storage_key, fa_deleted_user, fa_deleted_timestamp, fa_deleted_reason_id, "
                "fa_size, fa_width, fa_height, fa_metadata, fa_bits, fa_media_type, fa_major_mime, "
                "fa_minor_mime, fa_description_id, fa_actor, fa_timestamp, fa_deleted, fa_sha1) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s, %s)", fa_rows)
            for name, content_id, timestamp in IMAGE:
                content = contents[content_id]
                cur.execute(
                    "INSERT INTO image (img_name, img_size, img_width, img_height, img_metadata, "
                    "img_bits, img_media_type, img_major_mime, img_minor_mime, img_description_id, "
                    "img_actor, img_timestamp, img_sha1) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s, %s, %s, %s, %s)",
                    (name.encode(), len(content.data), content.width, content.height, b"{}",
                     content.bits, content.media_type, content.major, content.minor.encode(),
                     DESCRIPTIONS[LIVE_DESCRIPTIONS[name]][0], 1, timestamp.encode(),
                     sha1_base36(content.data).encode()))
            for name, archive_name, content_id, timestamp, oi_deleted in OLDIMAGE:
                content = contents[content_id]
                cur.execute(
                    "INSERT INTO oldimage (oi_name, oi_archive_name, oi_size, oi_width, oi_height, "
                    "oi_bits, oi_description_id, oi_actor, oi_timestamp, oi_metadata, "
                    "oi_media_type, oi_major_mime, oi_minor_mime, oi_deleted, oi_sha1) VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (name.encode(), archive_name.encode(), len(content.data), content.width,
                     content.height, content.bits, DESCRIPTIONS[LIVE_DESCRIPTIONS[archive_name]][0], 1,
                     timestamp.encode(), b"{}",
                     content.media_type, content.major, content.minor.encode(), oi_deleted,
                     sha1_base36(content.data).encode()))
            _write_file_tables(cur, contents)
    finally:
        conn.close()


def _write_file_tables(cur, contents: dict[str, Content]) -> None:
    """Write IMAGE and OLDIMAGE again as MediaWiki's migrated tables: a `file` per live file,
    a `filerevision` per version (its latest the current one), the media types in `filetypes`."""
    types: dict[tuple, int] = {}
    revisions = []  # (name, content, timestamp, archive name, bits, description); current ones first
    for name, content_id, timestamp in IMAGE:
        revisions.append((name, contents[content_id], timestamp, "", 0, LIVE_DESCRIPTIONS[name]))
    for name, archive_name, content_id, timestamp, oi_deleted in OLDIMAGE:
        revisions.append((name, contents[content_id], timestamp, archive_name, oi_deleted,
                          LIVE_DESCRIPTIONS[archive_name]))
    file_ids = {name: number for number, (name, _, _) in enumerate(IMAGE, start=1)}
    for name, content, *_ in revisions[:len(IMAGE)]:
        key = (content.media_type, content.major, content.minor)
        types.setdefault(key, len(types) + 1)
    cur.executemany("INSERT INTO filetypes (ft_id, ft_media_type, ft_major_mime, ft_minor_mime) "
                    "VALUES (%s, %s, %s, %s)", [(i, m.encode(), a.encode(), b.encode()) for (m, a, b), i in types.items()])
    for fr_id, (name, content, timestamp, archive_name, bits, description) in enumerate(revisions, start=1):
        cur.execute(
            "INSERT INTO filerevision (fr_id, fr_file, fr_size, fr_width, fr_height, fr_metadata, fr_bits, "
            "fr_description_id, fr_actor, fr_timestamp, fr_sha1, fr_archive_name, fr_deleted) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (fr_id, file_ids[name], len(content.data), content.width, content.height, b"{}", content.bits,
             DESCRIPTIONS[description][0], 1, timestamp.encode(), sha1_base36(content.data).encode(),
             archive_name.encode(), bits))
    for fr_id, (name, content, *_) in enumerate(revisions[:len(IMAGE)], start=1):
        cur.execute("INSERT INTO file (file_id, file_name, file_latest, file_type, file_deleted) "
                    "VALUES (%s, %s, %s, %s, 0)",
                    (file_ids[name], name.encode(), fr_id, types[(content.media_type, content.major, content.minor)]))
    # A deleted file keeps its `file` row (file_deleted = 1) and revisions: neither a live file
    # nor old versions (catalog.tables: file leaves it out; filearchive has it).
    content = contents["tile_j1"]
    deleted_id, first_rev = len(IMAGE) + 1, len(revisions) + 1
    for offset, (timestamp, archive_name) in enumerate((("20200101000000", ""),
                                                        ("20190101000000", f"20200101000000!{FILE_TABLES_DELETED}"))):
        cur.execute(
            "INSERT INTO filerevision (fr_id, fr_file, fr_size, fr_width, fr_height, fr_metadata, fr_bits, "
            "fr_description_id, fr_actor, fr_timestamp, fr_sha1, fr_archive_name, fr_deleted) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (first_rev + offset, deleted_id, len(content.data), content.width, content.height, b"{}", content.bits,
             DESCRIPTIONS["none"][0], 1, timestamp.encode(), sha1_base36(content.data).encode(),
             archive_name.encode(), 0))
    cur.execute("INSERT INTO file (file_id, file_name, file_latest, file_type, file_deleted) VALUES (%s, %s, %s, %s, 1)",
                (deleted_id, FILE_TABLES_DELETED.encode(), first_rev, 1))


def _listing(client, bucket: str) -> dict[str, tuple[str, int]]:
    """Return {object name: (etag, size)} of a bucket."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = (obj["ETag"].strip('"'), obj["Size"])
    return found


def _fill_storage(sandbox, contents: dict[str, Content]) -> None:
    """Make the account hold exactly the seed's objects (delete the rest, upload what differs)."""
    client = sandbox.s3_client()
    objects: dict[tuple[str, str], tuple[bytes, str, str]] = {}
    buckets = set()
    for row in FILEARCHIVE:
        if row.storage == "no_key":
            continue
        facts = _row_facts(row, contents)
        key = facts["storage_key"]
        # Every container a row points to exists (as in production): a missing object is a
        # NoSuchKey, never a NoSuchBucket.
        buckets.add(sandbox.bucket_for(key))
        if row.storage == "missing":
            continue
        data = facts["content"].data
        if row.storage == "corrupt":
            # Same length, one byte flipped in the middle: only a sha1 check catches it.
            data = bytearray(data)
            data[len(data) // 2] ^= 0xFF
            data = bytes(data)
        mime = f"{facts['content'].major}/{facts['content'].minor}"
        where = (sandbox.bucket_for(key), sandbox.object_path(key))
        if where in objects and objects[where][0] != data:
            raise SandboxError(f"seed table: two rows put different bytes at {key}")
        objects[where] = (data, mime, facts["sha1"])

    # Live files and their old versions (the controls' source): the public zone, but for an old
    # version whose file is hidden, which is in the deleted zone under its sha1 key.
    for name, content_id, _ in IMAGE:
        content = contents[content_id]
        objects[public_object(sandbox.wiki_id, name)] = (
            content.data, f"{content.major}/{content.minor}", sha1_base36(content.data))
    for name, archive_name, content_id, _, oi_deleted in OLDIMAGE:
        content = contents[content_id]
        if oi_deleted & 1:
            key = storage_key_for(sha1_base36(content.data), name)
            where = (sandbox.bucket_for(key), sandbox.object_path(key))
        else:
            where = public_object(sandbox.wiki_id, name, archive_name)
        objects[where] = (content.data, f"{content.major}/{content.minor}", sha1_base36(content.data))
    buckets |= {bucket for bucket, _ in objects}

    with ThreadPoolExecutor(_THREADS) as pool:
        existing = [b["Name"] for b in client.list_buckets().get("Buckets", [])]
        listings = dict(zip(existing, pool.map(lambda b: _listing(client, b), existing)))
        stale, present = [], set()
        for bucket, listing in listings.items():
            for name, (etag, size) in listing.items():
                wanted = objects.get((bucket, name))
                if wanted and size == len(wanted[0]) and etag == hashlib.md5(wanted[0]).hexdigest():
                    present.add((bucket, name))
                else:
                    stale.append((bucket, name))
        list(pool.map(lambda bk: client.delete_object(Bucket=bk[0], Key=bk[1]), stale))
        for bucket in sorted(set(existing) - buckets):
            try:
                client.delete_bucket(Bucket=bucket)
            except Exception:  # noqa: BLE001 - an empty bucket left behind is harmless
                pass
        list(pool.map(lambda b: client.create_bucket(Bucket=b), sorted(buckets - set(existing))))

        def put(item):
            (bucket, name), (data, mime, sha1) = item
            # MediaWiki's Swift backend keeps the sha1 as object metadata too.
            client.put_object(Bucket=bucket, Key=name, Body=data, ContentType=mime,
                              Metadata={"sha1base36": sha1})

        list(pool.map(put, sorted(item for item in objects.items() if item[0] not in present)))


# --- self-check ----------------------------------------------------------------------------------


def _fail(message: str):
    raise SandboxError(f"seed self-check failed: {message}")


def self_check(sandbox, truth: dict) -> None:
    """Check the ground truth adds up and agrees with the DB and Swift; raise SandboxError if not."""
    by_name: dict[str, list[Row]] = {}
    for row in FILEARCHIVE:
        by_name.setdefault(row.name, []).append(row)
    ids = [row.fa_id for row in FILEARCHIVE]
    if len(set(ids)) != len(ids):
        _fail("duplicate fa_id in FILEARCHIVE")
    totals = dict.fromkeys(COUNT_KEYS, 0)
    client = sandbox.s3_client()
    to_check: list[tuple[dict, str]] = []
    conn = sandbox.connect_db()
    try:
        with conn.cursor() as cur:
            for list_name, entry in truth["lists"].items():
                counts = entry["counts"]
                parts = ("invalid_name", "duplicate", "not_in_filearchive", "suppressed",
                         "no_storage_key", "found")
                if counts["requested"] != sum(counts[p] for p in parts):
                    _fail(f"{list_name}: requested != sum of outcomes")
                if counts["found"] != sum(counts[s] for s in FOUND_STATUSES):
                    _fail(f"{list_name}: found != ok + not_in_storage + checksum_mismatch")
                if counts["requested"] != len(entry["rows"]):
                    _fail(f"{list_name}: requested != number of rows")
                for key in COUNT_KEYS:
                    totals[key] += counts[key]
                seen = set()
                for out in entry["rows"]:
                    where = f"{list_name}:{out['line']}"
                    name, status = out["name"], out["status"]
                    if (name is None) != (status == "invalid_name"):
                        _fail(f"{where}: only invalid names have no key")
                    if name is not None and len(name.encode()) > 255:
                        _fail(f"{where}: key over 255 bytes")
                    if (status == "duplicate") != (name in seen and name is not None):
                        _fail(f"{where}: duplicate iff the key appeared earlier in the list")
                    seen.add(name)
                    if status not in CATALOG_STATUSES:
                        continue
                    derived = _derived_status(by_name.get(name, []))
                    if derived != status:
                        _fail(f"{where}: hand-written {status} but the rows imply {derived}")
                    cur.execute("SELECT fa_id, fa_sha1, fa_storage_key, fa_size, fa_deleted, "
                                "fa_deleted_timestamp, fa_timestamp FROM filearchive "
                                "WHERE fa_name = %s", (name.encode(),))
                    db_rows = cur.fetchall()
                    if len(db_rows) != out["versions"]:
                        _fail(f"{where}: versions {out['versions']} but the DB has {len(db_rows)}")
                    if not db_rows:
                        continue
                    best = max(db_rows, key=lambda r: (bytes(r[5]), bytes(r[6]), r[0]))
                    if best[0] != _choose(by_name[name]).fa_id:
                        _fail(f"{where}: the DB's latest version is not the seed table's")
                    if bool(best[4] & 8) != (status == "suppressed"):
                        _fail(f"{where}: fa_deleted of the latest version disagrees with {status}")
                    if status == "suppressed":
                        continue
                    db_fact = (best[0], best[1].decode(), best[2].decode(), best[3])
                    if db_fact != (out["fa_id"], out["sha1"], out["storage_key"], out["size"]):
                        _fail(f"{where}: ground truth row differs from the DB's latest version")
                    cur.execute("SELECT fa.fa_deleted, r.comment_text, d.comment_text "
                                "FROM filearchive fa "
                                "JOIN comment r ON r.comment_id = fa.fa_deleted_reason_id "
                                "JOIN comment d ON d.comment_id = fa.fa_description_id "
                                "WHERE fa.fa_id = %s", (best[0],))
                    deleted, reason, description = cur.fetchone()
                    db_texts = ((None, None) if deleted & 2
                                else (bytes(reason).decode(), bytes(description).decode()))
                    if db_texts != (out["deleted_reason"], out["description"]):
                        _fail(f"{where}: deletion reason/description differ from the DB's comments")
                    cur.execute("SELECT img_name FROM image WHERE img_sha1 = %s AND img_sha1 != ''",
                                (best[1],))
                    live = "|".join(sorted(bytes(r[0]).decode() for r in cur.fetchall())) or None
                    if live != out["live_duplicate_of"]:
                        _fail(f"{where}: live_duplicate_of differs from the DB's image table")
                    if status in FOUND_STATUSES:
                        to_check.append((out, where))
        with ThreadPoolExecutor(_THREADS) as pool:
            list(pool.map(lambda item: _check_object(sandbox, client, *item), to_check))
        if totals != truth["totals"]:
            _fail("totals differ from the sum of the lists")
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM filearchive")
        if cur.fetchone()[0] != len(FILEARCHIVE):
            _fail("filearchive row count")
        cur.execute("SELECT COUNT(*) FROM comment")
        if cur.fetchone()[0] != len(_comments()):
            _fail("comment row count")
        cur.execute("SELECT COUNT(*) FROM filearchive fa "
                    "LEFT JOIN comment r ON r.comment_id = fa.fa_deleted_reason_id "
                    "LEFT JOIN comment d ON d.comment_id = fa.fa_description_id "
                    "WHERE r.comment_id IS NULL OR d.comment_id IS NULL")
        if cur.fetchone()[0]:
            _fail("a filearchive row points to a missing comment")
        cur.execute("SELECT COUNT(*) FROM comment WHERE comment_id NOT IN "
                    "(SELECT fa_deleted_reason_id FROM filearchive UNION "
                    "SELECT fa_description_id FROM filearchive)")
        if cur.fetchone()[0] != len(NOISE_COMMENTS):
            _fail("unreferenced comments differ from NOISE_COMMENTS")
    finally:
        conn.close()


def _check_object(sandbox, client, out: dict, where: str) -> None:
    key = out["storage_key"]
    try:
        body = client.get_object(Bucket=sandbox.bucket_for(key), Key=sandbox.object_path(key))["Body"].read()
    except client.exceptions.NoSuchKey:
        body = None
    if out["status"] == "not_in_storage":
        if body is not None:
            _fail(f"{where}: object present but expected not_in_storage")
        return
    if body is None:
        _fail(f"{where}: object {key} missing from Swift")
    matches = sha1_base36(body) == out["sha1"]
    if out["status"] == "ok" and not (matches and len(body) == out["size"]):
        _fail(f"{where}: stored bytes do not match fa_sha1/fa_size")
    if out["status"] == "checksum_mismatch" and matches:
        _fail(f"{where}: stored bytes match fa_sha1 but expected checksum_mismatch")


# --- entry point ---------------------------------------------------------------------------------


def seed(sandbox) -> dict:
    """Reset the DB tables, the containers and the lists; write and return the ground truth."""
    contents = build_contents()
    _fill_database(sandbox, contents)
    _fill_storage(sandbox, contents)
    paths = write_lists(sandbox.lists_dir)
    truth = build_truth(sandbox.wiki_id, paths, contents)
    self_check(sandbox, truth)
    tmp = sandbox.ground_truth_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, sandbox.ground_truth_path)
    return truth

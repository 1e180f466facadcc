"""Export file names: safe on any file system, unique ignoring case, deterministic, 255 bytes at most."""

from __future__ import annotations

import os
import tarfile
import io

import pytest

from mediaextract.safe_names import (MAX_BYTES, UniqueNames, collision_key, extension_of, safe_name,
                                     sample_key, split_extension, thumbnail_name, unique_names)

EURO = "\u20ac"  # 3 bytes in UTF-8
NAME_255 = "Long_title_" + EURO * 78 + "abcdef.jpg"


def _is_safe(name: str) -> bool:
    raw = name.encode("utf-8")
    return (0 < len(raw) <= MAX_BYTES and "/" not in name and "\\" not in name and "\0" not in name
            and not name.startswith(".") and name not in (".", ".."))


def test_a_path_traversal_name_stays_one_harmless_component():
    name = safe_name("../../etc/passwd.jpg")
    assert name == "___.._etc_passwd.jpg"
    assert _is_safe(name) and os.path.basename(name) == name


@pytest.mark.parametrize("raw, expected", [
    ("Foo_bar.jpg", "Foo_bar.jpg"),
    (".htaccess", "_htaccess"),
    ("..", "__"),
    (".", "_"),
    ("", "_"),
    ("a/b\0c.png", "a_b_c.png"),
    ("tab\there\n.jpg", "tab_here_.jpg"),
    ("Old_scan_\\_page_1.jpg", "Old_scan___page_1.jpg"),  # a separator on Windows
    ("O'Reilly_\"Camel\"_<b>&amp;.jpg", "O'Reilly_\"Camel\"_<b>&amp;.jpg"),
    ("Cafe\u0301.jpg", "Caf\u00e9.jpg"),
])
def test_unsafe_characters_and_leading_dots_are_replaced_and_the_rest_kept(raw, expected):
    assert safe_name(raw) == expected
    assert _is_safe(safe_name(raw))


def test_a_255_byte_name_is_kept_whole():
    assert len(NAME_255.encode("utf-8")) == 255
    assert safe_name(NAME_255) == NAME_255


def test_a_longer_name_is_cut_at_a_character_boundary_keeping_its_extension():
    long_name = "x" + EURO * 100 + ".jpeg"  # 306 bytes
    name = safe_name(long_name)
    raw = name.encode("utf-8")
    assert len(raw) <= 255 and len(raw) >= 253
    assert name.endswith(".jpeg") and name.startswith("x" + EURO)
    raw.decode("utf-8")  # whole characters only


def test_a_collision_suffix_still_fits_255_bytes():
    first, second, third = unique_names([NAME_255, NAME_255, NAME_255.upper()])
    assert first == NAME_255
    assert second.endswith("~2.jpg") and third.endswith("~3.JPG")
    assert all(len(n.encode("utf-8")) <= 255 for n in (first, second, third))
    assert len({collision_key(n) for n in (first, second, third)}) == 3


def test_names_differing_only_in_case_get_a_suffix_in_line_order():
    assert unique_names(["Foo_bar.jpg", "Foo_Bar.jpg", "FOO_BAR.JPG"]) == ["Foo_bar.jpg", "Foo_Bar~2.jpg", "FOO_BAR~3.JPG"]
    # the other order gives the other names: the order (line order) decides, nothing else
    assert unique_names(["Foo_Bar.jpg", "Foo_bar.jpg"]) == ["Foo_Bar.jpg", "Foo_bar~2.jpg"]


def test_duplicates_and_names_equal_after_normalisation_collide_too():
    names = unique_names(["Logo2.png", "Logo2.png", "Caf\u00e9.jpg", "Cafe\u0301.jpg", "a/b.png", "a_b.png"])
    assert names == ["Logo2.png", "Logo2~2.png", "Caf\u00e9.jpg", "Caf\u00e9~2.jpg", "a_b.png", "a_b~2.png"]


def test_a_suffix_never_takes_a_name_already_given():
    assert unique_names(["a~2.jpg", "a.jpg", "A.jpg"]) == ["a~2.jpg", "a.jpg", "A~3.jpg"]


def test_reserved_names_are_never_handed_out():
    allocator = UniqueNames(reserved=["manifest.csv"], keep_extension=False)
    assert allocator.add("Manifest.csv") == "Manifest.csv~2"
    assert allocator.add("books") == "books"


def test_every_name_unpacks_inside_its_directory(tmp_path):
    names = unique_names(["../../etc/passwd.jpg", NAME_255, "Foo_bar.jpg", "foo_BAR.jpg", "/abs.png", ".hidden"])
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            info = tarfile.TarInfo(f"list/{name}")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tar:
        tar.extractall(tmp_path, filter="data")  # "data" refuses anything leaving tmp_path
    written = sorted(p.name for p in (tmp_path / "list").iterdir())
    assert written == sorted(names) and len(written) == 6
    assert not (tmp_path.parent / "etc").exists()


def test_extensions_thumbnail_names_and_sample_keys():
    assert split_extension("a.b.tar") == ("a.b", ".tar")
    assert split_extension("no extension") == ("no extension", "")
    assert split_extension("x.with space") == ("x.with space", "")
    assert thumbnail_name("Moby_dick.tif", "image/jpeg") == "Moby_dick.tif.jpg"
    assert thumbnail_name("Foo.JPEG", "image/jpeg") == "Foo.JPEG"
    assert thumbnail_name("Logo.png", "image/png") == "Logo.png"
    assert extension_of("Foo.JPEG") == "jpeg" and extension_of("Moby.tif", "image/jpeg") == "jpg"
    assert extension_of("README") == "bin"
    key = sample_key("covers.v2/x", 7)
    assert key == "covers_v2_x_000007" and "." not in key and "/" not in key

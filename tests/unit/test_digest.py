import hashlib
import random

import pytest

from mediaextract.digest import (
    Sha1Base36, base36_to_hex, extension_of, hex_to_base36, normalize_extension, sha1_base36, storage_key_for,
)

EMPTY_SHA1_HEX = "da39a3ee5e6b4b0d3255bfef95601890afd80709"


def independent_base36(hexdigest):
    n = int(hexdigest, 16)
    digits = ""
    while n > 0:
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[n % 36] + digits
        n //= 36
    return ("0" * 31 + digits)[-31:]


def test_empty_input_vector():
    assert hashlib.sha1(b"").hexdigest() == EMPTY_SHA1_HEX
    expected = independent_base36(EMPTY_SHA1_HEX)
    assert sha1_base36(b"") == expected
    assert hex_to_base36(EMPTY_SHA1_HEX) == expected
    assert len(expected) == 31


@pytest.mark.parametrize("data", [b"abc", b"The quick brown fox jumps over the lazy dog",
                                  bytes(range(256)) * 10])
def test_known_inputs(data):
    assert sha1_base36(data) == independent_base36(hashlib.sha1(data).hexdigest())


def test_round_trips_to_the_same_number():
    for data in [b"", b"abc", b"\x00" * 1000]:
        b36 = sha1_base36(data)
        assert int(b36, 36) == int(hashlib.sha1(data).hexdigest(), 16)
        assert b36 == b36.lower()


def test_zero_padding():
    assert hex_to_base36("0" * 40) == "0" * 31
    assert hex_to_base36("0" * 39 + "1") == "0" * 30 + "1"
    assert hex_to_base36("0" * 38 + "24") == "0" * 29 + "10"  # 0x24 == 36


def test_largest_digest_fits_in_31_characters():
    b36 = hex_to_base36("f" * 40)
    assert len(b36) == 31 and b36[0] != "0"
    assert b36 == independent_base36("f" * 40)


def test_upper_case_hex_accepted():
    assert hex_to_base36(EMPTY_SHA1_HEX.upper()) == hex_to_base36(EMPTY_SHA1_HEX)


@pytest.mark.parametrize("bad", ["", "abc", "g" * 40, "0" * 41, " " + "0" * 39, "0x" + "0" * 38,
                                 None])
def test_invalid_hex_raises(bad):
    with pytest.raises(ValueError):
        hex_to_base36(bad)


def test_streaming_equals_one_shot():
    rng = random.Random(7)
    data = bytes(rng.getrandbits(8) for _ in range(100_000))
    h = Sha1Base36()
    pos = 0
    while pos < len(data):
        step = rng.randint(0, 9000)
        h.update(data[pos:pos + step])
        pos += step
    assert h.base36() == sha1_base36(data)
    assert h.hexdigest() == hashlib.sha1(data).hexdigest()


def test_streaming_empty_and_initial_data():
    assert Sha1Base36().base36() == sha1_base36(b"")
    h = Sha1Base36(b"ab")
    h.update(b"c")
    assert h.base36() == sha1_base36(b"abc")


@pytest.mark.parametrize("name, ext", [
    ("Foo.jpg", "jpg"), ("Foo.JPG", "jpg"), ("Foo.jpeg", "jpg"), ("Foo.JPEG", "jpg"),
    ("Foo.tiff", "tif"), ("Foo.TIF", "tif"), ("Foo.mpeg", "mpg"), ("Foo.htm", "html"),
    ("Foo.ogv", "ogg"), ("Foo.webm", "webm"), ("Foo.mp3", "mp3"), ("A.b.tar.gz", "gz"),
    ("Foo", ""), ("Foo.", ""), (".htaccess", ""), ("Foo.jp_g", ""), ("Foo.jpg ", ""),
    ("Foo.jpé", ""), ("Foo.\u212a", ""),  # Kelvin sign: str.lower() would say 'k'
])
def test_extension_rules(name, ext):
    assert extension_of(name) == ext


def test_normalize_extension_squish_table():
    assert {e: normalize_extension(e) for e in ["htm", "jpeg", "mpeg", "tiff", "ogv"]} == {
        "htm": "html", "jpeg": "jpg", "mpeg": "mpg", "tiff": "tif", "ogv": "ogg"}


def test_storage_key_for():
    data = b"\x89PNG fake"
    assert storage_key_for(data, "Foo.PNG") == sha1_base36(data) + ".png"
    assert storage_key_for(data, "Foo.jpeg") == sha1_base36(data) + ".jpg"
    assert storage_key_for(data, "No_extension") == sha1_base36(data)
    assert storage_key_for(data, "Odd.ext-ension") == sha1_base36(data)


# --- base 36 back to hex (the items table's sha1_hex) -------------------------------------------

def test_base36_to_hex_gives_hashlibs_hexdigest():
    for data in [b"", b"abc", bytes(range(256)), b"\x00" * 1000]:
        assert base36_to_hex(sha1_base36(data)) == hashlib.sha1(data).hexdigest()


def test_base36_to_hex_round_trips_random_sha1s_with_zero_padding():
    rng = random.Random(16)
    for _ in range(500):
        hexdigest = f"{rng.getrandbits(rng.choice([8, 64, 100, 159, 160])):040x}"
        assert base36_to_hex(hex_to_base36(hexdigest)) == hexdigest
    assert base36_to_hex("0" * 31) == "0" * 40
    assert base36_to_hex("1") == "0" * 39 + "1"  # a short form is the same number, padded
    assert base36_to_hex(hex_to_base36("f" * 40)) == "f" * 40


@pytest.mark.parametrize("not_a_sha1", [None, "", " ", "ABC", "abc-def", "z" * 32, "z" * 31, b"abc", 12])
def test_base36_to_hex_is_none_for_what_is_no_base36_sha1(not_a_sha1):
    # "" is what MediaWiki writes for a lost file; 31 z's is wider than 160 bits.
    assert base36_to_hex(not_a_sha1) is None

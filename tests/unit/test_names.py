import random
import unicodedata

import pytest

from mediaextract.names import MAX_KEY_BYTES, NameResult, normalize_title


def key(raw, **kw):
    result = normalize_title(raw, **kw)
    assert result.reason is None, result
    return result.key


def reason(raw, **kw):
    result = normalize_title(raw, **kw)
    assert result.key is None, result
    assert result.reason
    return result.reason


# --- step 1: character references, NFC -----------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("Tom&amp;Jerry.jpg", "Tom&Jerry.jpg"),
    ("O&#39;Neil.jpg", "O'Neil.jpg"),
    ("O&#x27;Neil.jpg", "O'Neil.jpg"),
    ("O&#X27;Neil.jpg", "O'Neil.jpg"),
    ("&quot;Quoted&quot;.jpg", '"Quoted".jpg'),
    ("Foo&nbsp;bar.jpg", "Foo_bar.jpg"),  # U+00A0 then becomes `_` in step 3
    ("Caf&eacute;.jpg", "Café.jpg"),
    ("&#x1F600;.png", "\U0001F600.png"),
    # A reference needs its `;` (MediaWiki, unlike html.unescape's legacy forms).
    ("Foo&copy_bar.jpg", "Foo&copy_bar.jpg"),
    ("AT&T.jpg", "AT&T.jpg"),
])
def test_step1_character_references(raw, expected):
    assert key(raw) == expected


def test_step1_double_escaped_reference_is_rejected():
    # Decoded once: `&amp;amp;` leaves `&amp;`, which step 7 then refuses.
    assert reason("A&amp;amp;B.jpg").startswith("contains an unknown HTML entity '&amp;'")


@pytest.mark.parametrize("raw", ["A&#0;.jpg", "A&#xD800;.jpg", "A&#1114112;.jpg",
                                 "A&#99999999999999999999999999999;.jpg", "A&#x1;.jpg"])
def test_step1_invalid_numeric_reference_is_rejected(raw):
    assert reason(raw).startswith("contains an invalid character reference")


def test_step1_nfd_and_nfc_give_the_same_key():
    nfc = "Café_Ærø_ñ.jpg"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    assert key(nfd) == key(nfc) == nfc


def test_step1_reference_decoded_before_nfc():
    # e + combining acute written as a reference still composes.
    assert key("Cafe&#x301;.jpg") == "Café.jpg"


# --- step 2: bidi marks --------------------------------------------------------------------------

@pytest.mark.parametrize("mark", ["\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d",
                                  "\u202e"])
def test_step2_bidi_marks_dropped(mark):
    assert key(f"{mark}Foo{mark}bar.jpg{mark}") == "Foobar.jpg"


def test_step2_bidi_dropped_before_whitespace_is_collapsed():
    assert key("Foo \u200e bar.jpg") == "Foo_bar.jpg"


# --- step 3: whitespace --------------------------------------------------------------------------

@pytest.mark.parametrize("space", [" ", "_", "\u00a0", "\u1680", "\u180e", "\u2000", "\u2005",
                                   "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"])
def test_step3_whitespace_runs_become_one_underscore(space):
    assert key(f"{space}Foo{space}{space}_ bar.jpg{space}") == "Foo_bar.jpg"


def test_step3_outer_spaces_trimmed():
    assert key("  Foo  bar.jpg ") == "Foo_bar.jpg"


def test_step3_other_unicode_spaces_are_kept():
    # U+200B (zero width space) is not in MediaWiki's list: it stays in the name.
    assert key("Foo\u200bbar.jpg") == "Foo\u200bbar.jpg"


# --- step 4: U+FFFD, leading colon ---------------------------------------------------------------

@pytest.mark.parametrize("raw", ["Foo\ufffd.jpg",
                                 b"Caf\xe9.jpg".decode("utf-8", "surrogateescape"),
                                 "Foo\ufffe.jpg", "Foo\uffff.jpg"])
def test_step4_replacement_character_rejected(raw):
    assert reason(raw).startswith("contains U+FFFD")


def test_step4_one_leading_colon_stripped():
    assert key(":Foo.jpg") == "Foo.jpg"
    assert key(": Foo.jpg") == "Foo.jpg"
    assert key(":File:Foo.jpg") == "Foo.jpg"


def test_step4_second_leading_colon_rejected():
    assert reason("::Foo.jpg").startswith("starts with ':'")


@pytest.mark.parametrize("raw", ["", "   ", "_", ":", " : ", "\u200e", "\u3000"])
def test_step4_empty_rejected(raw):
    assert reason(raw).startswith("empty")


# --- step 5: namespace prefix --------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "File:Foo bar.jpg", "Image:foo_bar.jpg", "Media:Foo_bar.jpg", "file:Foo bar.jpg",
    "FILE:Foo bar.jpg", "iMaGe:Foo bar.jpg", "MEDIA:Foo bar.jpg", "file : Foo bar.jpg",
    "File_:_foo bar.jpg", "File  :   Foo_bar.jpg", "File\u00a0:\u00a0Foo bar.jpg",
    "Foo bar.jpg",
])
def test_step5_file_prefixes_removed(raw):
    assert key(raw) == "Foo_bar.jpg"


@pytest.mark.parametrize("raw, shown", [
    ("Category:Foo.jpg", "Category"), ("category:Foo.jpg", "category"),
    ("Talk:Foo.jpg", "Talk"), ("User:Foo.jpg", "User"), ("User talk:Foo.jpg", "User talk"),
    ("User_talk:Foo.jpg", "User talk"), ("Commons:Foo.jpg", "Commons"),
    ("Project:Foo.jpg", "Project"), ("Commons talk:Foo.jpg", "Commons talk"),
    ("File talk:Foo.jpg", "File talk"), ("Image talk:Foo.jpg", "Image talk"),
    ("MediaWiki:Foo.jpg", "MediaWiki"), ("Template:Foo", "Template"), ("Help:Foo", "Help"),
    ("Special:Undelete", "Special"), ("Module:Foo", "Module"), ("TimedText:Foo.webm.en.srt",
                                                                  "TimedText"),
    ("Gallery:Foo", "Gallery"), ("Creator:Foo", "Creator"), ("Institution:Foo", "Institution"),
    ("Data:Foo.tab", "Data"), ("Campaign:Foo", "Campaign"), ("Category talk:Foo", "Category talk"),
])
def test_step5_other_namespace_is_not_a_file(raw, shown):
    assert reason(raw) == f"not a file: '{shown}:' is another namespace"


@pytest.mark.parametrize("raw, expected", [
    ("Foo: bar.jpg", "Foo:_bar.jpg"),
    ("Foo:bar.jpg", "Foo:bar.jpg"),
    ("File:Category:Foo.jpg", "Category:Foo.jpg"),  # only one prefix is split off
    ("Ratio 16:9.jpg", "Ratio_16:9.jpg"),
])
def test_step5_colon_that_is_not_a_namespace_is_part_of_the_name(raw, expected):
    assert key(raw) == expected


@pytest.mark.parametrize("raw", ["File:", "Image: ", "Media:_", "File:#top"])
def test_step5_name_must_remain_after_the_prefix(raw):
    assert reason(raw).startswith("empty")


def test_step5_colon_right_after_prefix_rejected():
    assert reason("File::Foo.jpg").startswith("starts with ':'")


# --- step 6: fragment ----------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("Foo.jpg#Summary", "Foo.jpg"),
    ("Foo bar #section", "Foo_bar"),
    ("File:Foo.jpg#a#b", "Foo.jpg"),
])
def test_step6_fragment_cut(raw, expected):
    assert key(raw) == expected


def test_step6_fragment_only_is_empty():
    assert reason("#Foo.jpg").startswith("empty")


# --- step 7: illegal characters and sequences ----------------------------------------------------

@pytest.mark.parametrize("ch", list("<>[]|{}"))
def test_step7_illegal_ascii_characters(ch):
    assert reason(f"Foo{ch}bar.jpg") == f"contains illegal character '{ch}'"


@pytest.mark.parametrize("ch", ["\x00", "\x01", "\t", "\n", "\x1f", "\x7f"])
def test_step7_control_characters(ch):
    assert reason(f"Foo{ch}bar.jpg").startswith("contains illegal character U+")


@pytest.mark.parametrize("raw", ["Foo%20bar.jpg", "Foo%2fbar.jpg", "%C3%A9t%C3%A9.jpg", "100%41"])
def test_step7_percent_escape_rejected(raw):
    assert reason(raw) == "contains a %XX escape (percent-decode it first)"


@pytest.mark.parametrize("raw", ["100%.jpg", "100%_sure.jpg", "50%zz.jpg", "A%4.jpg"])
def test_step7_percent_not_followed_by_two_hex_digits_is_kept(raw):
    assert key(raw) == raw.replace(" ", "_")


@pytest.mark.parametrize("raw", [".", "..", "./Foo.jpg", "../Foo.jpg", "A/./b.jpg", "A/../b.jpg",
                                 "A/.", "A/.."])
def test_step7_relative_path_forms(raw):
    assert reason(raw).startswith("contains a '.' or '..' path segment")


@pytest.mark.parametrize("raw", ["...jpg", "A..b.jpg", ".hidden.jpg", "A/.b.jpg", "A./b.jpg"])
def test_step7_dots_that_are_not_path_segments_are_fine(raw):
    assert key(raw) == raw[0].upper() + raw[1:]


@pytest.mark.parametrize("raw", ["A ~~~ Name.jpg", "Sig~~~~.jpg", "~~~~~"])
def test_step7_magic_tildes(raw):
    assert reason(raw).startswith("contains '~~~'")


def test_step7_two_tildes_are_fine():
    assert key("A~~b.jpg") == "A~~b.jpg"


@pytest.mark.parametrize("raw, expected", [
    ("A\\b.jpg", "A\\b.jpg"),
    ("It's.jpg", "It's.jpg"),
    ('"Quoted".jpg', '"Quoted".jpg'),
    ("Rock&roll.jpg", "Rock&roll.jpg"),
    ("A/b.jpg", "A/b.jpg"),
    ("\U0001F600 smile.png", "\U0001F600_smile.png"),
    ("!$()*,-.;=?@^`+.jpg", "!$()*,-.;=?@^`+.jpg"),
    ("Привет.jpg", "Привет.jpg"),
    ("日本.jpg", "日本.jpg"),
])
def test_step7_legal_characters_kept(raw, expected):
    assert key(raw) == expected


# --- step 8: length ------------------------------------------------------------------------------

def test_step8_exactly_255_bytes_accepted():
    name = "A" * 251 + ".jpg"
    assert len(name.encode()) == MAX_KEY_BYTES
    assert key(name) == name


def test_step8_256_bytes_rejected():
    name = "A" * 252 + ".jpg"
    assert reason(name) == "longer than 255 bytes of UTF-8 (256)"


def test_step8_counts_utf8_bytes_not_characters():
    name = "é" * 129  # 129 characters, 258 bytes
    assert reason(name) == "longer than 255 bytes of UTF-8 (258)"
    assert key("é" * 127) == "É" + "é" * 126


def test_step8_prefix_and_fragment_do_not_count():
    name = "A" * 251 + ".jpg"
    assert key(f"File:{name}#section") == name


def test_step8_limit_applies_to_the_capitalised_key():
    # 'ɐ' (2 bytes) capitalises to 'Ɐ' (3 bytes): 255 bytes in, 256 out.
    name = "ɐ" + "a" * 253
    assert len(name.encode()) == 255
    assert reason(name) == "longer than 255 bytes of UTF-8 (256)"
    assert key(name, capitalize_first=False) == name


# --- step 9: first letter ------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("foo.jpg", "Foo.jpg"),
    ("éte.jpg", "Éte.jpg"),
    ("ω.svg", "Ω.svg"),
    ("ß-Straße.jpg", "ß-Straße.jpg"),  # Wikimedia override: not 'Ss'
    ("ǆungla.jpg", "ǅungla.jpg"),  # title case, not upper case 'Ǆ'
    ("ᾳ.jpg", "ᾼ.jpg"),
    ("ﬁsh.jpg", "Fish.jpg"),  # full title-case mapping
    ("ა.jpg", "ა.jpg"),  # Georgian Mkhedruli title-cases to itself
    ("1foo.jpg", "1foo.jpg"),
    ("日本.jpg", "日本.jpg"),
    ("fOO.JPG", "FOO.JPG"),  # only the first character changes
])
def test_step9_first_character_capitalised(raw, expected):
    assert key(raw) == expected


def test_step9_capitalisation_is_a_setting():
    assert key("foo bar.jpg", capitalize_first=False) == "foo_bar.jpg"
    assert key("File:foo.jpg", capitalize_first=False) == "foo.jpg"


# --- extras: URL forms ---------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("https://commons.wikimedia.org/wiki/File:Foo_bar.jpg", "Foo_bar.jpg"),
    ("http://commons.wikimedia.org/wiki/File:Foo_bar.jpg", "Foo_bar.jpg"),
    ("//commons.wikimedia.org/wiki/File:Foo_bar.jpg", "Foo_bar.jpg"),
    ("commons.wikimedia.org/wiki/File:Foo_bar.jpg", "Foo_bar.jpg"),
    ("https://commons.m.wikimedia.org/wiki/Image:foo_bar.jpg", "Foo_bar.jpg"),
    ("https://de.wikipedia.org/wiki/File:Foo_bar.jpg?uselang=en", "Foo_bar.jpg"),
    ("https://commons.wikimedia.org/wiki/File:Foo_bar.jpg#Summary", "Foo_bar.jpg"),
    ("https://commons.wikimedia.org/wiki/File:Caf%C3%A9_%22x%22.jpg", 'Café_"x".jpg'),
    ("https://commons.wikimedia.org/wiki/File:O%27Neil.jpg", "O'Neil.jpg"),
    ("https://commons.wikimedia.org/wiki/File:A+B.jpg", "A+B.jpg"),  # `+` literal in a path
    ("https://commons.wikimedia.org/wiki/File:AC/DC.jpg", "AC/DC.jpg"),
    ("https://commons.wikimedia.org/wiki/File:100%25.jpg", "100%.jpg"),
    ("http://localhost:8080/wiki/File:Foo.jpg", "Foo.jpg"),
    ("https://commons.wikimedia.org/w/index.php?title=File:Foo.jpg&action=history", "Foo.jpg"),
    ("https://commons.wikimedia.org/w/index.php?action=edit&title=File%3AFoo+bar.jpg",
     "Foo_bar.jpg"),
    ("https://commons.wikimedia.org/index.php?title=File:Foo.jpg", "Foo.jpg"),
    ("https://commons.wikimedia.org/wiki/Special:Undelete/File:Foo_bar.jpg", "Foo_bar.jpg"),
    ("https://commons.wikimedia.org/w/index.php?title=Special:Undelete&target=File:Foo_bar.jpg",
     "Foo_bar.jpg"),
    ("  https://commons.wikimedia.org/wiki/File:Foo.jpg\r", "Foo.jpg"),
])
def test_url_forms(raw, expected):
    assert key(raw) == expected


def test_url_title_escape_decoded_once():
    # %2541 decodes to the literal `%41`, which MediaWiki refuses in a title.
    assert reason("https://commons.wikimedia.org/wiki/File:50%2541.jpg").startswith(
        "contains a %XX escape")


def test_url_other_namespace_rejected():
    assert reason("https://commons.wikimedia.org/wiki/Category:Foo").startswith("not a file")


@pytest.mark.parametrize("raw, start", [
    ("https://upload.wikimedia.org/wikipedia/commons/7/70/Foo.png",
     "a URL that is not a wiki page"),
    ("https://commons.wikimedia.org/w/index.php?action=history", "a URL that is not a wiki page"),
    ("ftp://commons.wikimedia.org/wiki/File:Foo.jpg", "a URL that is not http(s)"),
    ("https://commons.wikimedia.org/wiki/File:Caf%E9.jpg", "a URL whose %XX escapes"),
    ("https://[commons/wiki/File:Foo.jpg", "a URL that cannot be parsed"),
])
def test_url_forms_rejected(raw, start):
    assert reason(raw).startswith(start)


def test_bare_name_with_percent_escape_stays_rejected():
    assert reason("File:Foo_bar%C3%A9.jpg").startswith("contains a %XX escape")


# --- extras: wikilinks ---------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "[[File:Foo.jpg]]", "[[:File:Foo.jpg|caption]]", "[[File:Foo.jpg|thumb|200px]]",
    "[[File:Foo.jpg|thumb|A [[link]] in a caption]]", "[[ file : foo.jpg ]]", "[[Image:Foo.jpg]]",
    "[[Media:Foo.jpg]]", " [[File:Foo.jpg]] ", "[[File:Foo.jpg#x|y]]",
])
def test_wikilink_forms(raw):
    assert key(raw) == "Foo.jpg"


def test_wikilink_to_another_namespace():
    assert reason("[[:Category:Foo]]").startswith("not a file")


def test_unclosed_wikilink_is_an_illegal_name():
    assert reason("[[File:Foo.jpg").startswith("contains illegal character '['")


# --- extras: list debris, round trips, never raising ---------------------------------------------

def test_outer_tabs_crlf_and_bom_are_list_debris():
    assert key("\ufeffFile:Foo.jpg\t\r\n") == "Foo.jpg"


def test_keys_are_fixed_points():
    for raw in ["File:Foo bar.jpg", "O'Neil & Co.jpg", "A\\b.jpg", "ǆ.jpg", "Ratio 16:9.jpg"]:
        k = key(raw)
        assert key(k) == k
        assert key("File:" + k) == k


def test_result_type():
    assert normalize_title("Foo.jpg") == NameResult("Foo.jpg", None)
    assert normalize_title("Foo.jpg").ok
    assert not normalize_title("").ok


def _random_text(rng):
    pools = [
        "abcXYZ019 _.:-'\"\\%&;#<>[]|{}~/!?+=@",
        "\u00a0\u1680\u2000\u200e\u202e\u3000\ufeff\ufffd\ufffe",
        "éßǆᾳაﬁɐ日本\U0001F600",
        "\x00\x01\t\n\r\x7f",
        "".join(chr(c) for c in range(0xDC80, 0xDD00)),  # surrogateescape
    ]
    parts = []
    for _ in range(rng.randint(0, 40)):
        r = rng.random()
        if r < 0.6:
            parts.append(rng.choice(rng.choice(pools)))
        elif r < 0.8:
            parts.append(chr(rng.randint(0, 0x10FFFF)))
        else:
            parts.append(rng.choice(["File:", "Category:", "[[", "]]", "&amp;", "&#x27;",
                                     "&#0;", "%41", "https://c.org/wiki/", "//h/w/index.php?title=",
                                     "Special:Undelete/", "~~~", "/../", ":"]))
    return "".join(parts)


def test_fuzz_never_raises_and_keys_are_valid():
    rng = random.Random(1234)
    accepted = 0
    for _ in range(20000):
        raw = _random_text(rng)
        for cap in (True, False):
            result = normalize_title(raw, capitalize_first=cap)
            assert isinstance(result, NameResult)
            assert (result.key is None) != (result.reason is None)
            if result.key is not None:
                accepted += 1
                encoded = result.key.encode("utf-8")  # no lone surrogates survive
                assert 0 < len(encoded) <= MAX_KEY_BYTES
                assert not set(result.key) & set("#<>[]|{}\ufffd \u00a0\t\n")
                assert not result.key.startswith(("_", ":"))
                assert not result.key.endswith("_")
    assert accepted > 1000  # the generator also produces names that pass

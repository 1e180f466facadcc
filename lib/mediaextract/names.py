"""File names as people write them -> the DB key `filearchive.fa_name` holds (no Spark, no I/O).

The rules are MediaWiki's title parser (TitleParser::splitTitleString, formerly
MediaWikiTitleCodec), steps 1-9 of mediawiki-storage.md ("File names as people write them"),
after a few unwrapping steps for the forms deletion requests contain (URLs, wikilinks).
A name is either turned into exactly one key or rejected with one sentence saying why.
"""

from __future__ import annotations

import html.entities
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_KEY_BYTES = 255


@dataclass(frozen=True)
class NameResult:
    key: str | None  # the DB key (fa_name form) or None when rejected
    reason: str | None  # None when accepted; else one short sentence a person understands

    @property
    def ok(self) -> bool:
        return self.key is not None


def _reject(reason: str) -> NameResult:
    return NameResult(None, reason)


# --- namespaces ---------------------------------------------------------------------------
# Keys are lower-case with `_` for spaces, as MediaWiki's Language::getNsIndex compares them.
# `Media:` is MediaWiki's pseudo-namespace for the file itself, so it resolves like `File:`.
_FILE_NAMESPACES = frozenset({"file", "image", "media"})
# Canonical MediaWiki namespaces plus those Commons adds. Interwiki prefixes (`en:`, `w:`) are
# deliberately absent: the interwiki map is wiki configuration, and such names keep their
# prefix (and then simply match nothing).
_OTHER_NAMESPACES = frozenset({
    "talk", "user", "user_talk", "project", "project_talk", "commons", "commons_talk", "com",
    "file_talk", "image_talk", "mediawiki", "mediawiki_talk", "template", "template_talk",
    "help", "help_talk", "category", "category_talk", "special", "module", "module_talk",
    "timedtext", "timedtext_talk", "gallery", "gallery_talk", "creator", "creator_talk",
    "institution", "institution_talk", "data", "data_talk", "campaign", "campaign_talk",
    "translations", "translations_talk",
})
# MediaWiki's $prefixRegexp: the shortest prefix before a colon, `_` around the colon dropped.
_PREFIX_RE = re.compile(r"^(.+?)_*:_*(.*)$", re.DOTALL)

# --- step 1: character references -----------------------------------------------------------
# Sanitizer::decodeCharReferences: a reference needs its `;` (unlike html.unescape, which also
# decodes legacy forms such as `&copy` and would turn `Foo&copy_1.jpg` into `Foo©_1.jpg`).
_CHAR_REF_RE = re.compile(
    r"&([A-Za-z0-9\u0080-\U0010ffff]+;)|&#([0-9]+);|&#[xX]([0-9A-Fa-f]+);"
)
_NAMED_REFS = {k: v for k, v in html.entities.html5.items() if k.endswith(";")}
# MediaWiki-specific aliases of &rlm; (Hebrew and Arabic spellings).
_NAMED_REFS["\u05e8\u05dc\u05de;"] = "\u200f"
_NAMED_REFS["\u0631\u0644\u0645;"] = "\u200f"
_REPLACEMENT = "\ufffd"
# Undecodable bytes arrive as lone surrogates (surrogateescape); UtfNormal turns them, and the
# non-characters U+FFFE/U+FFFF, into U+FFFD, which step 4 rejects.
_BAD_CODE_POINTS_RE = re.compile("[\ud800-\udfff\ufffe\uffff]")

# --- steps 2-3 --------------------------------------------------------------------------------
_BIDI_RE = re.compile("[\u200e\u200f\u202a-\u202e]+")
_SPACES_RE = re.compile(
    "[ _\u00a0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"
)

# --- step 7 -----------------------------------------------------------------------------------
# $wgLegalTitleChars: everything at or above U+0080 is legal; ASCII only these.
_ILLEGAL_RE = re.compile(r"""[^ %!"$&'()*,\-./0-9:;=?@A-Z\\^_`a-z~+\u0080-\U0010ffff]""")
_PERCENT_RE = re.compile(r"%[0-9A-Fa-f]{2}")
_ENTITY_LEFT_RE = re.compile(r"&[A-Za-z0-9\u0080-\U0010ffff]+;")

# --- extras: URL and wikilink forms ------------------------------------------------------------
_URL_START_RE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//")
# A host without a scheme, as people paste it: `commons.wikimedia.org/wiki/File:X.jpg`.
_BARE_HOST_URL_RE = re.compile(
    r"^[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+(?::[0-9]+)?/(?:wiki/|w/index\.php\b)"
)
_WIKILINK_RE = re.compile(r"^\[\[(.*)\]\]$", re.DOTALL)
_UNDELETE_RE = re.compile(r"^Special:Undelete/(.+)$", re.DOTALL | re.IGNORECASE)
# Outer ASCII whitespace (a CR from CRLF lists, tabs) and byte-order marks are list debris;
# whitespace inside a name follows MediaWiki (a tab inside is an illegal character).
_OUTER_JUNK = " \t\r\n\f\v\ufeff"


def _decode_char_refs(text: str) -> tuple[str, str | None]:
    """Return text with character references decoded, and the first invalid numeric one."""
    bad: list[str] = []

    def one(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return _NAMED_REFS.get(m.group(1), m.group(0))
        digits, base = (m.group(2), 10) if m.group(2) is not None else (m.group(3), 16)
        # Bounded before int(): Python refuses to parse huge digit strings (ValueError).
        cp = int(digits, base) if len(digits) <= 8 else -1
        # Sanitizer::validateCodepoint
        if cp in (0x09, 0x0A, 0x0D) or 0x20 <= cp <= 0xD7FF or 0xE000 <= cp <= 0xFFFD \
                or 0x10000 <= cp <= 0x10FFFF:
            return chr(cp)
        if not bad:
            bad.append(m.group(0))
        return _REPLACEMENT

    decoded = _CHAR_REF_RE.sub(one, text)
    return decoded, (bad[0] if bad else None)


def _describe_char(ch: str) -> str:
    if ch.isprintable() and not ch.isspace():
        return f"'{ch}'"
    return f"U+{ord(ch):04X}"


def _from_url(text: str) -> tuple[str | None, str | None]:
    """Return (title, None) from a wiki page URL, or (None, reason)."""
    url = text
    if url.startswith("//"):
        url = "https:" + url
    elif not _URL_START_RE.match(url):
        url = "https://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return None, "a URL that cannot be parsed"
    if parts.scheme.lower() not in ("http", "https"):
        return None, "a URL that is not http(s)"
    path = parts.path
    title: str | None = None
    try:
        if path.startswith("/wiki/"):
            # A path keeps `+` literal; only %XX is decoded.
            title = unquote(path[len("/wiki/"):], errors="strict")
        elif path.endswith("/index.php"):
            params = parse_qsl(parts.query, keep_blank_values=True, errors="strict")
            values = dict(reversed(params))  # first occurrence wins
            title = values.get("title")
            if title is not None and values.get("target") \
                    and title.replace(" ", "_").lower() == "special:undelete":
                title = values["target"]
    except UnicodeDecodeError:
        return None, "a URL whose %XX escapes are not valid UTF-8"
    if title is None:
        return None, "a URL that is not a wiki page link (/wiki/… or index.php?title=…)"
    m = _UNDELETE_RE.match(title)
    if m:
        # Special:Undelete/File:X names the deleted file itself.
        title = m.group(1)
    return title, None


def _unwrap(raw: str) -> tuple[str | None, str | None]:
    """Return (title text, None) after removing URL/wikilink wrapping, or (None, reason)."""
    text = raw.strip(_OUTER_JUNK)
    m = _WIKILINK_RE.match(text)
    if m:
        # [[File:X.jpg|thumb|caption]]: the target ends at the first `|`.
        return m.group(1).split("|", 1)[0], None
    if _URL_START_RE.match(text) or _BARE_HOST_URL_RE.match(text):
        return _from_url(text)
    return text, None


def ucfirst(text: str) -> str:
    """Return text with its first character capitalised the way Wikimedia's MediaWiki does.

    Language::ucfirst: ASCII via plain upper-casing; otherwise the configured override, else
    the (full) title-case mapping of the first code point (mb_convert_case MB_CASE_TITLE).
    Wikimedia overrides only 'ß' (kept as 'ß', not 'Ss'). Title case, not upper case, is why
    'ǆ' gives 'ǅ' and 'ᾳ' gives 'ᾼ'; Georgian Mkhedruli letters title-case to themselves.
    Unverified edge: names uploaded under the older rules (PHP 7.2 mapping) that start with a
    character whose mapping has changed since (e.g. 'ﬁ', 'ⓐ', 'ⅰ') may be stored differently.
    """
    if not text:
        return text
    first = text[0]
    if first < "\x80":
        return first.upper() + text[1:]
    if first == "ß":
        return text
    return first.title() + text[1:]


def _is_relative(key: str) -> bool:
    return "." in key and (
        key in (".", "..")
        or key.startswith("./")
        or key.startswith("../")
        or "/./" in key
        or "/../" in key
        or key.endswith("/.")
        or key.endswith("/..")
    )


def normalize_title(raw: str, capitalize_first: bool = True) -> NameResult:
    """Return the DB key for a file name as a person wrote it, or why it cannot be one."""
    text, reason = _unwrap(raw)
    if text is None:
        return _reject(reason or "not a file name")

    # Step 1: character references, then NFC (after making undecodable input visible).
    text = _BAD_CODE_POINTS_RE.sub(_REPLACEMENT, text)
    text, bad_ref = _decode_char_refs(text)
    if bad_ref is not None:
        return _reject(f"contains an invalid character reference '{bad_ref}'")
    text = unicodedata.normalize("NFC", text)

    # Step 2: bidi marks; step 3: whitespace runs -> one `_`, trimmed.
    text = _BIDI_RE.sub("", text)
    text = _SPACES_RE.sub("_", text).strip("_")

    # Step 4: U+FFFD; one leading colon.
    if _REPLACEMENT in text:
        return _reject("contains U+FFFD (the list was not valid UTF-8)")
    if text.startswith(":"):
        text = text[1:].strip("_")
    if not text:
        return _reject("empty after normalisation")

    # Step 5: namespace prefix.
    m = _PREFIX_RE.match(text)
    if m:
        prefix = m.group(1).lower()
        if prefix in _FILE_NAMESPACES:
            text = m.group(2)
        elif prefix in _OTHER_NAMESPACES:
            shown = m.group(1).replace("_", " ")
            return _reject(f"not a file: '{shown}:' is another namespace")
        # Anything else before a colon is part of the name (MediaWiki does the same).

    # Step 6: fragment.
    hash_at = text.find("#")
    if hash_at >= 0:
        text = text[:hash_at].rstrip("_")
    if not text:
        return _reject("empty after normalisation")

    # Step 7: illegal characters and sequences.
    bad = _ILLEGAL_RE.search(text)
    if bad:
        ch = bad.group(0)
        if ch < " " or ch == "\x7f":
            return _reject(f"contains illegal character {_describe_char(ch)} (a control character)")
        return _reject(f"contains illegal character '{ch}'")
    if _PERCENT_RE.search(text):
        return _reject("contains a %XX escape (percent-decode it first)")
    ent = _ENTITY_LEFT_RE.search(text)
    if ent:
        return _reject(f"contains an unknown HTML entity '{ent.group(0)}'")
    if _is_relative(text):
        return _reject("contains a '.' or '..' path segment")
    if "~~~" in text:
        return _reject("contains '~~~' (signature markup)")
    if text.startswith(":"):
        # MediaWiki: "Any remaining initial :s are illegal" (e.g. `File::X.jpg`).
        return _reject("starts with ':' after the namespace prefix")

    # Steps 8-9: length (MediaWiki checks before capitalising, the column holds the result:
    # both must fit), then the first letter.
    before = len(text.encode("utf-8"))
    if capitalize_first:
        text = ucfirst(text)
    size = max(before, len(text.encode("utf-8")))
    if size > MAX_KEY_BYTES:
        return _reject(f"longer than {MAX_KEY_BYTES} bytes of UTF-8 ({size})")
    return NameResult(text, None)

import hashlib

import pytest

from mediaextract.digest import storage_key_for
from mediaextract.layout import (
    MAX_OBJECT_PATH_BYTES, SHARDED_WIKIS, Location, archive_location, deleted_location,
    disk_path, file_location, public_location,
)

# mediawiki-storage.md's example (from a MediaWiki docstring) is 32 characters long, which no
# sha1 in base 36 can be (36**31 > 2**160); its 31-character prefix has the same layout.
DOC_KEY = "sza251lrxrc1jad41h5mgilp8nysje52.jpg"
KEY = "sza251lrxrc1jad41h5mgilp8nysje5.jpg"


def test_deleted_location_commons_example():
    assert deleted_location(KEY) == Location(
        container="wikipedia-commons-local-deleted.sz",
        path="s/z/a/sza251lrxrc1jad41h5mgilp8nysje5.jpg",
    )


def test_doc_example_key_is_too_long_to_be_a_sha1():
    with pytest.raises(ValueError):
        deleted_location(DOC_KEY)


def test_deleted_location_unsharded_wiki():
    loc = deleted_location(KEY, wiki_id="wikipedia-nl", sharded=False)
    assert loc == Location("wikipedia-nl-local-deleted", "s/z/a/" + KEY)


def test_deleted_location_other_zone():
    assert deleted_location(KEY, zone="deleted-backup").container == \
        "wikipedia-commons-local-deleted-backup.sz"


def test_deleted_location_key_without_extension():
    k = "0" * 31
    assert deleted_location(k) == Location("wikipedia-commons-local-deleted.00", f"0/0/0/{k}")


def test_deleted_location_of_a_computed_key():
    k = storage_key_for(b"hello", "Hello.JPEG")
    assert k.endswith(".jpg") and len(k) == 35
    loc = deleted_location(k)
    assert loc.container == f"wikipedia-commons-local-deleted.{k[:2]}"
    assert loc.path == f"{k[0]}/{k[1]}/{k[2]}/{k}"


@pytest.mark.parametrize("bad", [
    "", "sza251lrxrc1jad41h5mgilp8nysje",  # 30 characters
    "SZA251LRXRC1JAD41H5MGILP8NYSJE5.jpg",  # upper case
    "sza251lrxrc1jad41h5mgilp8nysje5.JPG",
    "sza251lrxrc1jad41h5mgilp8nysje5.",
    "sza251lrxrc1jad41h5mgilp8nysje5.j-g",
    "sza251lrxrc1jad41h5mgilp8nysje5.jpg/../x",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",  # a hex sha1 is not a storage key
    " sza251lrxrc1jad41h5mgilp8nysje5.jpg",
    "sza251lrxrc1jad41h5mgilp8nysje5.jpg\n",
    None, b"sza251lrxrc1jad41h5mgilp8nysje5.jpg",
])
def test_invalid_storage_keys_raise(bad):
    with pytest.raises(ValueError):
        deleted_location(bad)
    with pytest.raises(ValueError):
        disk_path(bad)


@pytest.mark.parametrize("wiki_id", ["", "a/b"])
def test_invalid_wiki_id_raises(wiki_id):
    with pytest.raises(ValueError):
        deleted_location(KEY, wiki_id=wiki_id)


def test_disk_path():
    assert disk_path(KEY) == "deleted/s/z/a/sza251lrxrc1jad41h5mgilp8nysje5.jpg"


def test_public_location_commons_example():
    assert public_location("Wikimedia_logo_family.png") == Location(
        container="wikipedia-commons-local-public.70",
        path="7/70/Wikimedia_logo_family.png",
    )


def test_public_location_unsharded_and_non_ascii():
    name = "Café_\"x\"_O'Neil.jpg"
    h = hashlib.md5(name.encode("utf-8")).hexdigest()
    loc = public_location(name, wiki_id="wikipedia-nl", sharded=False)
    assert loc == Location("wikipedia-nl-local-public", f"{h[0]}/{h[:2]}/{name}")


def test_archive_location():
    loc = archive_location("20100101000000!Wikimedia_logo_family.png", "Wikimedia_logo_family.png")
    assert loc == Location(
        "wikipedia-commons-local-public.70",
        "archive/7/70/20100101000000!Wikimedia_logo_family.png",
    )


def test_archive_location_hashes_the_current_name():
    # The hash directories come from `name`, whatever the archive name says.
    loc = archive_location("20100101000000!Old_name.png", "Wikimedia_logo_family.png")
    assert loc.path == "archive/7/70/20100101000000!Old_name.png"


@pytest.mark.parametrize("bad", ["", "Foo.png", "2010!Foo.png", "20100101000000!",
                                 "20100101000000!a/b.png"])
def test_invalid_archive_names_raise(bad):
    with pytest.raises(ValueError):
        archive_location(bad, "Foo.png")


@pytest.mark.parametrize("bad", ["", "a/b.png"])
def test_invalid_public_names_raise(bad):
    with pytest.raises(ValueError):
        public_location(bad)


def test_object_path_limit_counts_url_encoded_bytes():
    # 255-byte names fit; a name whose URL-encoded path passes 1024 bytes does not.
    fits = "A" * 251 + ".png"
    assert public_location(fits).path.endswith(fits)
    huge = "日" * 80 + ".png"  # 244 bytes of UTF-8, 724 URL-encoded
    assert public_location(huge).path.endswith(huge)
    too_long = "日" * 114 + ".png"  # 342 bytes of UTF-8, 1030 URL-encoded with the prefix
    with pytest.raises(ValueError, match="1024"):
        public_location(too_long)
    assert MAX_OBJECT_PATH_BYTES == 1024


def test_sharded_wikis_are_the_documented_sixteen():
    assert len(SHARDED_WIKIS) == 16
    assert {"commons", "en", "de", "zh"} <= SHARDED_WIKIS
    assert "nl" not in SHARDED_WIKIS


ARCHIVE_NAME = "20100101000000!Wikimedia_logo_family.png"
NAME = "Wikimedia_logo_family.png"


@pytest.mark.parametrize("files, key, archive_name, container, path, disk", [
    # a deleted file: its key, in the deleted zone (the name does not matter)
    ("deleted", KEY, None, "wikipedia-commons-local-deleted.sz", "s/z/a/" + KEY, "deleted/s/z/a/" + KEY),
    # a live file: its name, in the public zone
    ("live", None, None, "wikipedia-commons-local-public.70", "7/70/" + NAME, "7/70/" + NAME),
    # an old version: its archive name, in the public zone's archive directory
    ("old", None, ARCHIVE_NAME, "wikipedia-commons-local-public.70", "archive/7/70/" + ARCHIVE_NAME,
     "archive/7/70/" + ARCHIVE_NAME),
    # an old version whose file is hidden (it has a key): the deleted zone
    ("old", KEY, ARCHIVE_NAME, "wikipedia-commons-local-deleted.sz", "s/z/a/" + KEY, "deleted/s/z/a/" + KEY),
])
def test_file_location_follows_the_zone_of_each_kind_of_file(files, key, archive_name, container, path, disk):
    location = file_location(files, NAME, key, archive_name)
    assert (location.container, location.path, location.disk_path) == (container, path, disk)


@pytest.mark.parametrize("files, name, key, archive_name", [
    ("deleted", NAME, None, None),        # a deleted file needs its key
    ("live", None, None, None),           # a live file needs its name
    ("old", NAME, None, "Foo.png"),       # not an archive name
    ("current", NAME, KEY, None),         # no such kind of file
])
def test_file_location_refuses_what_locates_nothing(files, name, key, archive_name):
    with pytest.raises(ValueError):
        file_location(files, name, key, archive_name)

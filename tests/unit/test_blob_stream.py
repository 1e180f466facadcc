"""export.BlobStream: an original's chunks as one stream, checked as they pass (pure logic)."""

from __future__ import annotations

import io
import shutil

import pytest

from mediaextract.digest import sha1_base36
from mediaextract.export import BlobStream

DATA = bytes(range(256)) * 9 + b"tail"


class Damaged(Exception):
    pass


def stream(chunks, data: bytes = DATA) -> BlobStream:
    return BlobStream(iter(chunks), sha1_base36(data), len(data), Damaged("damaged"))


def split(data: bytes, size: int) -> list[tuple[int, bytes]]:
    return [(i, data[at:at + size]) for i, at in enumerate(range(0, len(data), size))]


def test_chunks_in_order_read_as_the_original():
    blob = stream(split(DATA, 1000))
    out = io.BytesIO()
    shutil.copyfileobj(blob, out, 333)
    blob.verify()
    assert out.getvalue() == DATA


@pytest.mark.parametrize("chunks, why", [
    (lambda c: [c[1], c[0], *c[2:]], "out of order"),
    (lambda c: c[:-1], "the last chunk missing"),
    (lambda c: [*c, (len(c), b"more")], "a chunk too many"),
    (lambda c: [(0, c[0][1][:-1] + b"X"), *c[1:]], "a byte changed"),
])
def test_a_damaged_original_is_refused(chunks, why):
    blob = stream(chunks(split(DATA, 1000)))
    with pytest.raises(Damaged):
        blob.read()
        blob.verify()


def test_a_read_is_filled_across_chunks_as_tarfile_needs():
    blob = stream(split(DATA, 100))
    assert blob.read(1000) == DATA[:1000] and blob.read(5000) == DATA[1000:]


def test_verify_reads_what_the_writer_left():
    blob = stream(split(DATA, 1000))
    assert blob.read(10) == DATA[:10]
    blob.verify()  # the rest is read and checked: a writer that stopped at `size` misses nothing

"""The sandbox's port picks: outside the kernel's ephemeral range, and never the same block twice."""

import socket

import pytest

import mediaextract_sandbox as sandbox
from mediaextract_sandbox import ephemeral_port_low, free_ports, port_is_free


@pytest.fixture
def reservations(tmp_path, monkeypatch):
    """A private reservation directory, so these tests neither see nor leave other runs' claims."""
    monkeypatch.setattr(sandbox.tempfile, "gettempdir", lambda: str(tmp_path))
    return tmp_path


def test_ports_are_below_the_ephemeral_range_and_free(reservations):
    base = free_ports(4)
    assert sandbox.LOWEST_PORT <= base and base + 4 <= ephemeral_port_low()
    assert all(port_is_free(base + i) for i in range(4))


def test_a_reserved_block_is_not_handed_out_again(reservations, monkeypatch):
    # The same random draw twice: the second caller must skip the first's block, which is still
    # free (nothing listens on it yet), and take the next draw.
    first, other = sandbox.LOWEST_PORT + 100, sandbox.LOWEST_PORT + 200
    draws = iter([first, first, other])
    monkeypatch.setattr(sandbox.random, "SystemRandom", lambda: type("Draws", (), {
        "randrange": staticmethod(lambda low, high: next(draws))})())
    assert free_ports(4) == first
    assert all(port_is_free(first + i) for i in range(4))
    assert free_ports(4) == other


def test_a_stale_reservation_is_taken_over(reservations, monkeypatch):
    first = free_ports(1)
    claim = next(reservations.glob("mediaextract-ports-*")) / str(first)
    assert claim.exists()
    monkeypatch.setattr(sandbox, "PORT_RESERVATION_S", -1.0)
    assert sandbox._reserve(first, 1, claim.parent)


def test_a_port_something_listens_on_is_not_free():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert not port_is_free(server.getsockname()[1])

"""HPACK parts of the APNs engine as units, checked against the hpack package.

The tables are our own data from RFC 7541; the hpack package (a dev dependency) is the
independent reference here, and only here: product code never imports it."""

from __future__ import annotations

import random

import pytest
from hpack import Decoder, Encoder
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.table import HeaderTable

from shared.clients.apns.hpack import HpackDecoder, HpackError, RequestEncoder
from shared.clients.apns.hpack_tables import HUFFMAN_CODES, STATIC_TABLE
from shared.clients.apns.huffman import huffman_decode


def test_static_table_is_rfc_7541_appendix_a() -> None:
    assert len(STATIC_TABLE) == 61
    assert tuple(HeaderTable.STATIC_TABLE) == STATIC_TABLE
    assert STATIC_TABLE[2 - 1] == (b":method", b"GET")  # spot checks from the RFC text
    assert STATIC_TABLE[61 - 1] == (b"www-authenticate", b"")


def test_huffman_codes_are_rfc_7541_appendix_b() -> None:
    assert len(HUFFMAN_CODES) == 257
    assert tuple(zip(REQUEST_CODES, REQUEST_CODES_LENGTH, strict=True)) == HUFFMAN_CODES
    assert HUFFMAN_CODES[ord("0")] == (0x0, 5)
    assert HUFFMAN_CODES[256] == (0x3FFFFFFF, 30)  # EOS
    # A prefix code: no code is the start of another (Kraft sum exactly 1 for a full tree).
    assert sum(2.0**-length for _, length in HUFFMAN_CODES) == 1.0


def test_huffman_decoding_matches_hpack() -> None:
    rng = random.Random(5)
    samples = [
        bytes(range(256)),
        b"",
        b"a",
        *(rng.randbytes(rng.randrange(60)) for _ in range(300)),
    ]
    for raw in samples:
        encoded = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH).encode(raw)
        assert huffman_decode(encoded) == raw
    with pytest.raises(HpackError):
        huffman_decode(b"\xff\xff\xff\xff")  # EOS
    with pytest.raises(HpackError):
        huffman_decode(b"\x00")  # "0" then 3 zero bits of padding


def test_hpack_decoder_follows_the_encoders_dynamic_table() -> None:
    rng = random.Random(7)
    encoder, reference, ours = Encoder(), Decoder(), HpackDecoder()
    names = [b":status", b"apns-id", b"content-type", b"x-a", b"x-b", b"server"]
    for block_number in range(400):
        if block_number % 50 == 25:
            encoder.header_table_size = rng.choice([0, 100, 1024, 4096])
        headers: list[tuple[bytes, bytes]] = [
            (rng.choice(names), rng.randbytes(rng.randrange(1, 80)).hex().encode())
            for _ in range(rng.randrange(1, 6))
        ]
        block = encoder.encode(headers, huffman=bool(block_number % 3))
        assert ours.decode(block) == [tuple(h) for h in reference.decode(block, raw=True)]


def test_request_encoder_keeps_in_step_with_the_servers_table() -> None:
    rng = random.Random(11)
    encoder, server = RequestEncoder(b"apns.test:2197", b"2"), Decoder()
    topics = [f"pass.com.example.{n}".encode() for n in range(40)] + [b"p" * 900]
    evicted = False
    for _ in range(3000):
        for _ in range(rng.choice([0] * 30 + [1, 2])):  # limit changes, maybe several
            limit = rng.choice([0, 64, 100, 200, 256, 1000, 4096, 65536])
            server.max_allowed_table_size = limit  # what acknowledging SETTINGS does
            encoder.set_limit(limit)
        topic = rng.choice(topics[:8] if rng.random() < 0.9 else topics)
        pre, post, _ = encoder.template(topic)
        path = b"/3/device/" + rng.randbytes(32).hex().encode()
        block = pre + b"\x14" + bytes([len(path)]) + path + post
        size_before = len(server.header_table.dynamic_entries)
        assert server.decode(block, raw=True) == [
            (b":method", b"POST"),
            (b":scheme", b"https"),
            (b":authority", b"apns.test:2197"),
            (b":path", path),
            (b"apns-topic", topic),
            (b"content-length", b"2"),
        ]
        evicted = evicted or len(server.header_table.dynamic_entries) < size_before
    assert evicted

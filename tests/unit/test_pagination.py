"""Cursors round-trip; anything else is refused as a problem naming the cursor."""

from __future__ import annotations

import base64

import pytest

from hanse.errors import Invalid
from hanse.pagination import decode_cursor, encode_cursor


@pytest.mark.parametrize("key", ["ord_01HZX", "2026-11-23T10:00:00+00:00|42", "ünïcode-id", "a" * 150])
def test_cursor_round_trips(key):
    assert decode_cursor(encode_cursor(key)) == key


@pytest.mark.parametrize(
    "cursor",
    [
        "***",
        "not base64!",
        base64.urlsafe_b64encode(b"abc\x00def").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "",
        "é",
    ],
)
def test_foreign_cursors_are_invalid_and_name_the_field(cursor):
    with pytest.raises(Invalid) as caught:
        decode_cursor(cursor)
    assert caught.value.field == "cursor"

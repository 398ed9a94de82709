"""The PUBLISH packets the drain writes itself (adapters/mqtt/packets.py)."""

from __future__ import annotations

from simulator.adapters.mqtt.packets import _varint


def by_the_book(value: int) -> bytes:
    """MQTT 5 §1.5.5: seven bits a byte, least significant first, the top bit set on
    every byte but the last."""
    out = []
    while True:
        value, byte = divmod(value, 128)
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_variable_byte_integers_of_every_length_are_as_the_standard_spells_them() -> None:
    edges = [0, 1, 127, 128, 129, 16_383, 16_384, 16_385, 2_097_151, 2_097_152, 268_435_455]
    for value in [*edges, *range(0, 40_000, 37)]:
        assert _varint(value) == by_the_book(value), value
    assert _varint(127) == b"\x7f"
    assert _varint(128) == b"\x80\x01"
    assert _varint(16_384) == b"\x80\x80\x01"

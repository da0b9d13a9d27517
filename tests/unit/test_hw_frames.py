"""Frame codecs of the card reader and the LED controller: what passes, what is rejected."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from devices.hardware.card_frames import CardFrameDecoder, RejectedFrame, encode_card_frame
from devices.hardware.card_reader import Debouncer
from devices.hardware.led_frames import (
    CALL,
    MAX_PAYLOAD,
    LedFrame,
    LedFrameDecoder,
    call_frame,
    encode_led_frame,
    waiting_frame,
)


def reasons(items: Sequence[object]) -> list[str]:
    return [i.reason for i in items if isinstance(i, RejectedFrame)]


def test_a_card_frame_round_trips_even_split_across_reads() -> None:
    frame = encode_card_frame("2023310456")
    assert frame == bytes.fromhex("02 0a 32 30 32 33 33 31 30 34 35 36 0c 03")  # docs/hardware.md
    decoder = CardFrameDecoder()
    assert decoder.feed(frame[:4]) == []
    assert decoder.pending == 4
    assert decoder.feed(frame[4:]) == ["2023310456"]
    assert decoder.pending == 0


@pytest.mark.parametrize("card", ["123", "1" * 21, "12a45", "１２３４５", ""])
def test_a_card_number_that_the_frame_cannot_carry_is_refused(card: str) -> None:
    with pytest.raises(ValueError, match="card number"):
        encode_card_frame(card)


def test_noise_bad_checksums_bad_lengths_and_missing_etx_are_rejected_and_decoding_resyncs() -> None:
    good = encode_card_frame("1999000111")
    bad_sum = good[:-2] + bytes([good[-2] ^ 0x40]) + good[-1:]
    no_etx = good[:-1] + b"\x04"
    bad_length = b"\x02\x02\x31\x32"
    letters = b"\x02\x04ABCD" + bytes([0x04 ^ ord("A") ^ ord("B") ^ ord("C") ^ ord("D")]) + b"\x03"
    decoder = CardFrameDecoder()
    items = decoder.feed(b"\xff\xfe" + bad_sum + no_etx + bad_length + letters + good)
    assert [i for i in items if isinstance(i, str)] == ["1999000111"]
    assert "bytes outside a frame" in reasons(items)
    assert "checksum mismatch" in reasons(items)
    assert "no ETX where the frame should end" in reasons(items)
    assert "length 2 out of range" in reasons(items)
    assert "card number is not digits" in reasons(items)


def test_a_cut_frame_is_dropped_as_partial() -> None:
    decoder = CardFrameDecoder()
    assert decoder.feed(encode_card_frame("2023310456")[:6]) == []
    dropped = decoder.drop_partial()
    assert dropped is not None and dropped.reason == "partial frame"
    assert decoder.drop_partial() is None
    assert decoder.feed(encode_card_frame("2023310456")) == ["2023310456"]


def test_the_same_card_within_the_window_is_one_swipe() -> None:
    debounce = Debouncer(2.0)
    assert debounce.accept("1", 0.0)
    assert not debounce.accept("1", 1.0)
    assert debounce.accept("2", 1.0)
    assert not debounce.accept("1", 2.5)  # still held: each repeat extends the window
    assert debounce.accept("1", 5.0)


def test_an_led_frame_round_trips_with_chinese_text_in_gb18030() -> None:
    frame = call_frame(7, "A012", "3", "请 A012 号到 3 号窗口")
    raw = encode_led_frame(frame)
    assert "请".encode("gb18030") in raw
    decoded = LedFrameDecoder().feed(b"\x00" + raw[:9]) + LedFrameDecoder().feed(raw)
    last = decoded[-1]
    assert isinstance(last, LedFrame) and last == frame
    assert last.text().split("\x1f") == ["A012", "3", "请 A012 号到 3 号窗口"]


def test_led_frames_with_bad_sums_bad_commands_or_cut_short_are_rejected() -> None:
    raw = encode_led_frame(LedFrame(1, CALL, b"A001\x1f1\x1fx"))
    bad_sum = raw[:-2] + bytes([raw[-2] ^ 1]) + raw[-1:]
    bad_command = b"\x02\x01Z\x00\x00Z\x03"
    decoder = LedFrameDecoder()
    items = decoder.feed(bad_sum + bad_command + raw + raw[:6])
    assert [i for i in items if isinstance(i, LedFrame)] == [LedFrame(1, CALL, b"A001\x1f1\x1fx")]
    assert "checksum mismatch" in reasons(items)
    assert "bad command or length" in reasons(items)
    dropped = decoder.drop_partial()
    assert dropped is not None and dropped.reason == "partial frame"


def test_separators_in_fields_cannot_split_a_call_and_a_long_waiting_list_is_cut_to_fit() -> None:
    frame = call_frame(1, "A\x1f1", "3", "x\x1ey")
    assert frame.text().split("\x1f") == ["A 1", "3", "x y"]
    entries = [f"学生证办理 A{n:03d}" for n in range(500)]
    waiting = waiting_frame(1, entries)
    assert len(waiting.payload) <= MAX_PAYLOAD
    assert waiting.text().split("\x1e") == entries[:len(waiting.text().split("\x1e"))]
    with pytest.raises(ValueError, match="payload"):
        encode_led_frame(LedFrame(1, CALL, b"x" * (MAX_PAYLOAD + 1)))
    with pytest.raises(ValueError, match="address or command"):
        encode_led_frame(LedFrame(300, CALL))

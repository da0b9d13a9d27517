"""The ticket's ESC/POS stream (rendered by python-escpos) read back by the emulated printer's
parser, and the DLE EOT paper status decoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.hardware.errors import BadFrame
from devices.hardware.ports import PaperState, TicketPrint
from devices.hardware.printer import decode_paper_status, render_ticket
from simulators.emulated.printer import EmulatedPrinter, Paper

TICKET = TicketPrint(ticket="B107", ticket_id="5c0e8e52-1d7b-4c1e-9f58-3a1f2e7d9b10",
                     service_name="宿舍事务", issued_at_ms=1_795_860_000_000, estimated_wait_s=540,
                     waiting_ahead=3)


def parsed(stream: bytes) -> EmulatedPrinter:
    printer = EmulatedPrinter(Path("/nonexistent"))  # never plugged: only its parser is used
    printer.feed(stream)
    return printer


def test_a_ticket_is_a_valid_stream_with_a_large_number_gb18030_text_and_a_qr_code() -> None:
    stream = render_ticket(TICKET)
    assert "宿舍事务".encode("gb18030") in stream
    printer = parsed(stream)
    assert printer.invalid == []
    [receipt] = printer.receipts
    assert receipt.cut and receipt.chinese_mode
    assert (receipt.lines[0].text, receipt.lines[0].width, receipt.lines[0].height) == ("B107", 4, 4)
    assert receipt.lines[1].text == "宿舍事务" and receipt.lines[1].width == 1
    assert "取号时间 2026-11-28" in receipt.text()  # Beijing time
    assert "前面还有 3 人  预计等待 9 分钟" in receipt.text()
    assert receipt.qr_codes == [TICKET.ticket_id]


def test_the_parser_flags_commands_it_does_not_know_and_text_that_is_not_gb18030() -> None:
    printer = parsed(b"\x1b@\x1bZ\x01ok\n\xff\xff\n\x1dV\x00")
    assert printer.invalid[0] == "ESC 5a"
    assert any("not GB18030" in problem for problem in printer.invalid)


def test_print_data_sent_while_the_paper_is_out_is_lost() -> None:
    printer = EmulatedPrinter(Path("/nonexistent"))
    printer.paper = Paper.OUT
    printer.feed(render_ticket(TICKET))
    assert printer.receipts == [] and printer.lost_bytes > 0


@pytest.mark.parametrize(("answer", "state"), [(0x12, PaperState.OK), (0x1E, PaperState.NEAR_END),
                                               (0x72, PaperState.OUT), (0x7E, PaperState.OUT)])
def test_paper_status_bytes(answer: int, state: PaperState) -> None:
    assert decode_paper_status(answer) is state


@pytest.mark.parametrize("answer", [0x00, 0xFF, 0x13, 0x92])
def test_a_byte_that_is_no_status_answer_is_a_bad_frame(answer: int) -> None:
    with pytest.raises(BadFrame):
        decode_paper_status(answer)

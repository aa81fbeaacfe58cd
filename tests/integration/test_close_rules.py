"""Closing rules and protocol faults on /echo (RFC 6455 §5.1-§5.5, §7.1.5, §7.4, §8.1).

A fault must end in a close frame with the right code (1002 protocol error, 1007 invalid
payload data, 1009 message too big), no data frame before it, and then the server closing the
TCP connection (§7.1.7 "Fail the WebSocket Connection")."""

from __future__ import annotations

import struct

import pytest

from wsraw import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RSV1, RSV2, RSV3,
                   close_payload, encode_frame, open_ws)

LIMIT = 65536
SERVER_ARGS = ("--echo", "--max-message-size", str(LIMIT))

DATA_OPS = (OP_CONT, OP_TEXT, OP_BINARY)


def check_close_frame(close):
    assert close.fin and close.rsv == 0, close
    assert len(close.payload) != 1 and len(close.payload) <= 125, \
        f"close payload must be empty or 2..125 bytes: {close}"
    try:
        close.close_reason.decode("utf-8")
    except UnicodeDecodeError:
        raise AssertionError(f"server's close reason is not UTF-8: {close}")


def expect_failure(conn, code: int | tuple[int, ...], timeout: float = 5.0):
    """Reads until the server's close: no data frames first, the expected code, then EOF."""
    before, close = conn.recv_until_close(timeout)
    data = [f for f in before if f.opcode in DATA_OPS]
    assert not data, f"server sent data frames before failing the connection: {data}"
    check_close_frame(close)
    codes = code if isinstance(code, tuple) else (code,)
    assert close.close_code in codes, \
        f"expected close {codes}, got {close.close_code} reason {close.close_reason!r}"
    conn.expect_eof(timeout)
    return close


def send_ignoring_close(conn, data: bytes):
    """Sends `data`; the server may fail the connection before it has read all of it."""
    try:
        conn.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def expect_echoed_close(conn, code: int, timeout: float = 5.0):
    before, close = conn.recv_until_close(timeout)
    check_close_frame(close)
    assert close.close_code == code, \
        f"expected the close code {code} echoed, got {close.close_code} {close.close_reason!r}"
    conn.expect_eof(timeout)
    return before, close


# --------------------------------------------------------------------------------------------
# Client-initiated close


def test_close_1000_with_reason_is_echoed(shared_server):
    with open_ws(shared_server.port) as conn:
        conn.send_close(1000, "bye now")
        before, _ = expect_echoed_close(conn, 1000)
        assert not before, before


def test_close_after_data_echoes_data_first(shared_server):
    with open_ws(shared_server.port) as conn:
        conn.send(encode_frame(OP_TEXT, b"last words") + encode_frame(OP_CLOSE, close_payload(1000)))
        before, _ = expect_echoed_close(conn, 1000)
        assert [(f.opcode, f.payload) for f in before] == [(OP_TEXT, b"last words")], before


def test_close_with_empty_payload(shared_server):
    with open_ws(shared_server.port) as conn:
        conn.send_close()
        _, close = conn.recv_until_close()
        check_close_frame(close)
        assert close.payload == b"" or close.close_code == 1000, close
        conn.expect_eof()


def test_no_data_echoed_after_close(shared_server):
    """§5.5.1: after sending a close frame the server must not send more data; frames after the
    client's close are ignored."""
    with open_ws(shared_server.port) as conn:
        conn.send(encode_frame(OP_CLOSE, close_payload(1000)) + encode_frame(OP_TEXT, b"after"))
        before, _ = expect_echoed_close(conn, 1000)
        assert not [f for f in before if f.opcode in DATA_OPS], before


def test_close_payload_of_one_byte_is_1002(shared_server):
    with open_ws(shared_server.port) as conn:
        conn.send_frame(OP_CLOSE, b"\x03")
        expect_failure(conn, 1002)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
def test_invalid_close_code_is_1002(shared_server, code):
    with open_ws(shared_server.port) as conn:
        conn.send_close(code, "x")
        expect_failure(conn, 1002)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000,
                                  4999])
def test_valid_close_code_is_echoed(shared_server, code):
    with open_ws(shared_server.port) as conn:
        conn.send_close(code)
        expect_echoed_close(conn, code)


def test_close_reason_at_max_length(shared_server):
    with open_ws(shared_server.port) as conn:
        conn.send_close(1000, "r" * 123)  # 2 + 123 = 125, the control-frame maximum
        expect_echoed_close(conn, 1000)


@pytest.mark.parametrize("reason", [b"\xff\xfe", b"ok \xed\xa0\x80", b"cut \xe2\x82"],
                         ids=["ff-fe", "surrogate", "truncated"])
def test_close_reason_invalid_utf8_is_1007(shared_server, reason):
    with open_ws(shared_server.port) as conn:
        conn.send_close(1000, reason)
        expect_failure(conn, 1007)


# --------------------------------------------------------------------------------------------
# Frame-level faults → 1002


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY, OP_PING, OP_CLOSE])
def test_unmasked_client_frame_is_1002(shared_server, opcode):
    payload = close_payload(1000) if opcode == OP_CLOSE else b"naked"
    with open_ws(shared_server.port) as conn:
        conn.send_frame(opcode, payload, mask=False)
        expect_failure(conn, 1002)


@pytest.mark.parametrize("rsv", [RSV1, RSV2, RSV3], ids=["rsv1", "rsv2", "rsv3"])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_PING])
def test_rsv_bit_is_1002(shared_server, rsv, opcode):
    with open_ws(shared_server.port) as conn:
        conn.send_frame(opcode, b"reserved", rsv=rsv)
        expect_failure(conn, 1002)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcode_is_1002(shared_server, opcode):
    with open_ws(shared_server.port) as conn:
        conn.send_frame(opcode, b"what is this")
        expect_failure(conn, 1002)


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
def test_control_frame_over_125_bytes_is_1002(shared_server, opcode):
    payload = close_payload(1000, "r" * 124) if opcode == OP_CLOSE else b"p" * 126
    assert len(payload) == 126
    with open_ws(shared_server.port) as conn:
        conn.send_frame(opcode, payload)
        expect_failure(conn, 1002)


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
def test_fragmented_control_frame_is_1002(shared_server, opcode):
    payload = close_payload(1000) if opcode == OP_CLOSE else b"frag"
    with open_ws(shared_server.port) as conn:
        conn.send_frame(opcode, payload, fin=False)
        expect_failure(conn, 1002)


@pytest.mark.parametrize("fin", [True, False])
def test_continuation_without_message_is_1002(shared_server, fin):
    with open_ws(shared_server.port) as conn:
        conn.send_frame(OP_CONT, b"orphan", fin=fin)
        expect_failure(conn, 1002)


@pytest.mark.parametrize("second_op,second_fin", [(OP_TEXT, True), (OP_BINARY, False)])
def test_new_message_during_fragmented_message_is_1002(shared_server, second_op, second_fin):
    with open_ws(shared_server.port) as conn:
        conn.send_frame(OP_TEXT, b"first half", fin=False)
        conn.send_frame(second_op, b"intruder", fin=second_fin)
        expect_failure(conn, 1002)


def test_64bit_length_with_top_bit_set_is_rejected(shared_server):
    """§5.2: the most significant bit of a 64-bit length MUST be 0."""
    header = bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 1 << 63) + b"\x01\x02\x03\x04"
    with open_ws(shared_server.port) as conn:
        conn.send(header)
        expect_failure(conn, (1002, 1009))


def test_fault_after_good_traffic_stops_echoing(shared_server):
    """Frames queued behind a bad one are not processed."""
    with open_ws(shared_server.port) as conn:
        conn.send_text(b"fine")
        assert conn.recv_frame().payload == b"fine"
        conn.send(encode_frame(OP_TEXT, b"bad", rsv=RSV1) + encode_frame(OP_TEXT, b"never"))
        expect_failure(conn, 1002)


# --------------------------------------------------------------------------------------------
# UTF-8 → 1007


INVALID_UTF8 = {
    "ff": b"\xff",
    "lone-continuation": b"abc\x80def",
    "overlong-slash": b"\xc0\xaf",
    "overlong-3byte": b"\xe0\x80\xaf",
    "surrogate": b"\xed\xa0\x80",
    "above-10ffff": b"\xf4\x90\x80\x80",
    "truncated-at-end": b"euro \xe2\x82",
}


@pytest.mark.parametrize("payload", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_invalid_utf8_text_is_1007(shared_server, payload):
    with open_ws(shared_server.port) as conn:
        conn.send_frame(OP_TEXT, payload)
        expect_failure(conn, 1007)


# A fragmented text message (its fragments, the first one OP_TEXT, the last one FIN).
INVALID_UTF8_FRAGMENTS = {
    "in-final-fragment": [b"valid start ", b"then \xff"],
    "in-middle-fragment": [b"one ", b"\xed\xa0\x80", b" three"],
    "truncated-at-end": [b"euro ", b"\xe2\x82"],
}


@pytest.mark.parametrize("fragments", INVALID_UTF8_FRAGMENTS.values(),
                         ids=INVALID_UTF8_FRAGMENTS.keys())
def test_invalid_utf8_in_fragmented_text_is_1007(shared_server, fragments):
    with open_ws(shared_server.port) as conn:
        for i, fragment in enumerate(fragments):
            conn.send_frame(OP_CONT if i else OP_TEXT, fragment, fin=i == len(fragments) - 1)
        expect_failure(conn, 1007)


def test_binary_is_not_utf8_checked(shared_server):
    with open_ws(shared_server.port) as conn:
        conn.send_binary(b"\xff\xfe\xed\xa0\x80")
        f = conn.recv_frame()
        assert (f.opcode, f.payload) == (OP_BINARY, b"\xff\xfe\xed\xa0\x80"), f


# --------------------------------------------------------------------------------------------
# --max-message-size → 1009


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_message_at_limit_is_echoed(shared_server, opcode):
    payload = b"m" * LIMIT
    with open_ws(shared_server.port) as conn:
        conn.send_frame(opcode, payload)
        f = conn.recv_frame(timeout=10)
        assert f.opcode == opcode and f.payload == payload, f


def test_fragmented_message_at_limit_is_echoed(shared_server):
    part = b"q" * (LIMIT // 4)
    with open_ws(shared_server.port) as conn:
        conn.send_frame(OP_BINARY, part, fin=False)
        conn.send_frame(OP_CONT, part, fin=False)
        conn.send_frame(OP_CONT, part, fin=False)
        conn.send_frame(OP_CONT, part, fin=True)
        f = conn.recv_frame(timeout=10)
        assert f.opcode == OP_BINARY and f.payload == part * 4, f


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_message_over_limit_is_1009(shared_server, opcode):
    with open_ws(shared_server.port) as conn:
        send_ignoring_close(conn, encode_frame(opcode, b"m" * (LIMIT + 1)))
        expect_failure(conn, 1009)


def test_fragmented_message_over_limit_is_1009(shared_server):
    part = b"q" * (LIMIT // 3 + 1)  # three parts: LIMIT + 3 bytes in total
    with open_ws(shared_server.port) as conn:
        send_ignoring_close(conn, encode_frame(OP_BINARY, part, fin=False)
                            + encode_frame(OP_CONT, part, fin=False)
                            + encode_frame(OP_CONT, part, fin=True))
        expect_failure(conn, 1009)


def test_huge_declared_length_fails_without_payload(shared_server):
    """A header announcing 1 GiB is over the limit by itself: the server must answer 1009
    without waiting for (or buffering) the payload."""
    with open_ws(shared_server.port) as conn:
        conn.send(encode_frame(OP_BINARY, b"", declared_length=1 << 30))
        expect_failure(conn, 1009)

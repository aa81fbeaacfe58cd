"""proto/PROTOCOL.md's table of chat error codes (section "WebSocket: `GET /ws`", "Errors") against
the codes the server's sources send: every code sent has a row, every row is a code sent. A new
code without its row (or a row left behind by a removed one) fails here, so the table stays true."""

import pathlib
import re

import pytest

pytestmark = pytest.mark.no_asan

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Where a chat error code is chosen: the functions that send or refuse with one, and the
# (code, message) pairs a refusal table returns (ConversationOwner::RefusalOf).
SENT = [
    re.compile(r'\b(?:Refuse|SendError|FinishWithError|EncodeError|ErrorEvent)\([^;"]*?"([a-z_]+)"'),
    re.compile(r'return \{"([a-z_]+)",\s*"'),
]


def codes_in_sources():
    codes = set()
    for path in (ROOT / "chat").rglob("*.cc"):
        text = path.read_text()
        for pattern in SENT:
            codes.update(pattern.findall(text))
    return codes


def codes_in_protocol_table():
    text = (ROOT / "proto" / "PROTOCOL.md").read_text()
    start = text.index("| code | when |", text.index("Errors: `{\"type\":\"error\""))
    table = text[start:text.index("\n\n", start)]
    return set(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))


def test_every_error_code_sent_has_a_row_and_every_row_is_sent():
    sent = codes_in_sources()
    documented = codes_in_protocol_table()
    # The scan finds the codes it must (it is not silently matching nothing).
    assert {"bad_request", "forbidden", "busy", "edit_window"} <= sent
    assert sent - documented == set(), "error codes sent but not in PROTOCOL.md's table"
    assert documented - sent == set(), "PROTOCOL.md's table lists codes nothing sends"

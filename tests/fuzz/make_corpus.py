#!/usr/bin/env python3
"""Writes the committed seed corpus (tests/fuzz/corpus/<harness>/) from readable definitions.

The corpus is committed; run this only to change it. Each harness's input layout is in the
comment at the top of its *_fuzzer.cc and in README.md.
"""
import base64
import hashlib
import hmac
import os
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
MASK = b"\x37\xfa\x21\x3d"


def frame(opcode, payload, fin=True, mask=MASK, rsv1=False):
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n <= 0xFFFF:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def deflated(data, final=False):
    """A permessage-deflate payload (RFC 7692 §7.2.1): raw DEFLATE, the 00 00 ff ff tail cut."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    if final:
        return c.compress(data) + c.flush(zlib.Z_FINISH)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


# The harness's secret (jwt_verify_fuzzer.cc): the text, zero-padded to 32 bytes.
SECRET = b"ringcast-fuzz-secret".ljust(32, b"\0")
HEADER = b'{"alg":"HS256","typ":"JWT"}'
CLAIMS = b'{"sub":"42","iat":1700000000,"exp":1800000000,"jti":"AAAAAAAAAAAAAAAAAAAAAA"}'


def token(header, claims, secret=SECRET):
    signing_input = b64(header) + b"." + b64(claims)
    return signing_input + b"." + b64(hmac.new(secret, signing_input, hashlib.sha256).digest())


CORPUS = {
    "http_parser": {
        "ws_upgrade": b"GET /ws?token=abc HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n",
        "post_login": b"POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 44\r\n\r\n{\"username\":\"alice\",\"password\":\"correct h\"}",
        "get_http10": b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "bearer_query": b"GET /api/conversations/7/messages?before=20&limit=5 HTTP/1.1\r\n"
        b"Host: a\r\nAuthorization: Bearer eyJ.x.y\r\nAccept: */*\r\n\r\n",
        "pipelined": b"GET /health HTTP/1.1\r\nHost: a\r\n\r\nGET /health HTTP/1.1\r\nHost: a\r\n"
        b"Connection: close\r\n\r\n",
        "bare_lf": b"\r\nDELETE /api/sessions HTTP/1.1\nHost: a\nX-Empty:\n\n",
        "chunked": b"POST /api/register HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    },
    # settings byte (bit 0: client role; bits 1-2: message limit; bit 3: permessage-deflate;
    # bits 4-6: the round trip's window), split seed, stream.
    "ws_reader": {
        "deflate_text": b"\x0c\x03" + frame(0x1, deflated(b'{"type":"send","body":"hi hi hi"}'),
                                             rsv1=True) + frame(0x1, b"plain"),
        "deflate_fragmented": b"\x6c\x15"
        + frame(0x1, deflated("naïve ".encode() * 40)[:7], fin=False, rsv1=True)
        + frame(0x9, b"p") + frame(0x0, deflated("naïve ".encode() * 40)[7:]),
        "deflate_final_block": b"\x2e\x08" + frame(0x2, deflated(bytes(300), final=True),
                                                    rsv1=True),
        "deflate_bomb": b"\x0c\x01" + frame(0x2, deflated(bytes(100000)), rsv1=True),
        "deflate_rsv1_continuation": b"\x0c\x02" + frame(0x2, b"ab", fin=False, rsv1=True)
        + frame(0x0, b"cd", rsv1=True),
        # Found by this harness: an Inflater whose buffer had grown under a larger limit
        # inflated past a smaller one.
        "regress_inflate_smaller_limit": b"\x08\x2e\xc2\x87\x37\xfa\x21\x3d\x54\x9a\x39\x38"
        b"\xf3\xf8\x21",
        "text": b"\x04\x01" + frame(0x1, b"hello"),
        "fragmented_utf8": b"\x04\x07" + frame(0x1, b"h\xc3", fin=False) + frame(0x9, b"p")
        + frame(0x0, b"\xa9llo", fin=False) + frame(0x0, b"!"),
        "binary_16bit": b"\x04\x33" + frame(0x2, bytes(range(200))),
        "close": b"\x04\x02" + frame(0x8, struct.pack("!H", 1000) + b"bye"),
        "client_role": b"\x05\x11" + frame(0x1, b"{\"type\":\"ack\"}", mask=None)
        + frame(0xA, b"", mask=None),
        "chat_send": b"\x06\x05" + frame(0x1, b'{"type":"send","conv":7,"cid":"c1","body":"hi"}')
        + frame(0x9, b"") + frame(0x8, b""),
        "too_big": b"\x00\x09" + frame(0x2, b"x" * 70),
        "bad_utf8": b"\x04\x21" + frame(0x1, b"ok\xed\xa0\x80"),
    },
    "chat_request": {
        "send": b'{"type":"send","conv":7,"cid":"c-1","kind":"text","body":"h\\u00e9 \\ud83d\\ude00"}',
        "sync": b'{"type":"sync","convs":{"7":12,"9":0}}',
        "sync_all": b'{"type":"sync"}',
        "history": b'{"type":"history","conv":3,"before":40,"limit":20}',
        "read": b'{"type":"read","conv":3,"seq":17}',
        "typing": b'{"type":"typing","conv":3,"state":"start"}',
        "credentials": b'{"username":"alice","password":"correct horse"}',
        "new_conversation": b'{"members":[2,3],"name":"team","group":true}',
        "call_invite": b'{"type":"call_invite","conv":3,"call_kind":"video","cid":"k1"}',
        "call_signal": b'{"type":"call_signal","call":"00000000000000ab/1","cid":"k2",'
                       b'"to":{"user":2,"device":4097},"sdp":{"type":"offer","sdp":"v=0\\r\\n"}}',
        "call_candidate": b'{"type":"call_signal","call":"ab/1","cid":"k3","to":{"user":2,'
                          b'"device":7},"candidate":{"candidate":"candidate:1 1 udp 2 10.0.0.1 '
                          b'5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":null,'
                          b'"x":[1.5e3,-0.0,true,{"y":[]}]}}',
        # Found by the issue 44 review: a raw CR and a forged event inside a relayed object.
        "call_signal_raw_cr": b'{"type":"call_signal","call":"ab/1","cid":"k4","to":{"user":2,'
                              b'"device":7},"sdp":{"sdp":"x"\r\r\nevent: message\r\ndata: {}\r\r}}',
        "call_accept": b'{"type":"call_accept","call":"00000000000000ab/1","cid":"k5"}',
        "call_rejoin": b'{"type":"call_rejoin","call":"00000000000000ab/1","cid":"k6"}',
        # Found by this harness: threw simdjson_error out of ParseNewConversation.
        "regress_name_bad_atom": b'{"members":[2],"name":nv}',
        # Found by this harness: a cid past 64-bit integers was echoed into an error event that
        # JSON parsers refuse.
        "regress_cid_bigint": b'{"type":"send","conv":7,"cid":44444444444444444444444444,"body":""}',
    },
    # limits byte (bits 0-1 head 32/256/8192, bits 2-3 body 0/16/1000/65536), split seed, then
    # the stream of client frames.
    "stomp_frame": {
        "connect": b"\x0e\x05CONNECT\naccept-version:1.2\nheart-beat:10000,10000\n"
                   b"passcode:eyJhbGciOiJIUzI1NiJ9.e30.x\n\n\x00",
        "subscribe_send": b"\x0e\x11SUBSCRIBE\nid:0\ndestination:/topic/conversation.3\n"
                          b"receipt:r1\n\n\x00\nSEND\ndestination:/app/chat.send\n"
                          b"conversation:3\ncid:c1\n\nhello\x00\n\n",
        "content_length": b"\x0e\x22SEND\r\ndestination:/q\r\ncontent-length:5\r\n\r\n"
                          b"a\x00b\x00c\x00",
        "escapes": b"\x0e\x33SEND\na\\cb:line\\none\\r\\\\\n\n\x00",
        "bad_escape": b"\x0e\x01SEND\na:b\\t\n\n\x00",
        "heartbeats": b"\x0e\x07\n\r\n\n\r\n",
        "small_limits": b"\x05\x09SEND\ndestination:/app/chat.send\n\n0123456789abcdefghij\x00",
    },
    # body-limit byte (bits 0-1: 16 / 1000 / 65536 / 1 MiB), then the frames after CONNECT.
    "stomp_session": {
        "send_read_typing": b"\x02SEND\ndestination:/app/chat.send\nconversation:3\nkind:text\n\n"
                            b"hello\x00SEND\ndestination:/app/chat.read\nconv:3\nseq:4\n\n\x00"
                            b"SEND\ndestination:/app/chat.typing\nconversation:3\nstate:stop\n\n\x00",
        "sync_body": b"\x02SEND\ndestination:/app/chat.sync\n\n{\"3\":4,\"9\":0}\x00",
        "sync_smuggle": b"\x02SEND\ndestination:/app/chat.sync\n\n"
                        b"{\"3\":4},\"type\":\"send\",\"conv\":3,\"body\":\"x\"\x00",
        "history_auth": b"\x02SEND\ndestination:/app/chat.history\nconversation:3\nbefore:9\n"
                        b"limit:20\n\n\x00SEND\ndestination:/app/chat.auth\n"
                        b"Authorization:Bearer eyJ.e30.x\n\n\x00",
        "subscribe": b"\x02SUBSCRIBE\nid:0\ndestination:/topic/conversation.3\n\n\x00"
                     b"SUBSCRIBE\nid:1\ndestination:/user/queue/acks\nheart-beat:0,10000\n\n\x00",
        "escaped_headers": b"\x02SEND\ndestination:/app/chat.send\nconversation:3\n"
                           b"kind:a\\nb\\c\n\n\"quoted\"\r\x00",
    },
    # byte 0 mod 3: 0 an event's JSON, 1 a POST /sse/send body, 2 a session or event id.
    "sse_wire": {
        "event": b'\x00{"type":"message","conv":3,"seq":4,"body":"hi"}',
        "event_line_breaks": b"\x00a\rb\nc\r\nd\r\re\n\nevent: message\rdata: forged\r\r",
        "post_body": b'\x01{"type":"send","conv":3,"cid":"c1","body":"x"}\r\n\n  \n'
                     b'{"type":"read","conv":3,"seq":1} \r\n{"type":"typing"',
        "session_id": b"\x02" + b"0123456789abcdef" * 2 + b"~1~node-2",
        "event_id": b"\x02" + b"0123456789abcdef" * 2 + b"~0:42",
    },
    # mode byte (0: token; 1: claims, signed; 2: header, signed), then the text.
    "jwt_verify": {
        "valid_token": b"\x00" + token(HEADER, CLAIMS),
        "alg_none": b"\x00" + b64(b'{"alg":"none","typ":"JWT"}') + b"." + b64(CLAIMS) + b".",
        "wrong_secret": b"\x00" + token(HEADER, CLAIMS, secret=b"x" * 32),
        "claims": b"\x01" + CLAIMS,
        "claims_extra": b'\x01{"jti":"q","exp":1760000000,"sub":"9","iat":0,"name":"x\\u0000"}',
        "header": b"\x02" + HEADER,
        "header_hs512": b'\x02{"alg":"HS512","typ":"JWT"}',
    },
}


def main():
    for harness, files in CORPUS.items():
        folder = os.path.join(ROOT, harness)
        os.makedirs(folder, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()

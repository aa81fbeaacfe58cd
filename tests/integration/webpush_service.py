"""A Web Push service for the tests, on loopback: it hands out subscriptions (a P-256 key pair
and an auth secret of its own, as a browser's would be, and an endpoint URL on itself), and for
every POST to an endpoint it checks what a real push service and browser would (RFC 8030
delivery headers, the RFC 8292 VAPID JWT: ES256 signature by the key that
/api/push/vapid-public-key serves, aud, exp, sub) and decrypts the RFC 8291 aes128gcm payload
with the subscription's private key. Written against Debian's python3-cryptography, from the
RFCs, so it shares no code with the server.

    service = PushService(vapid_public_key=..., subject="mailto:...")
    sub = service.subscribe()          # sub.json(): the body for POST /api/push/subscriptions
    sub.answer = 410                   # how later POSTs to it are answered
    service.wait_for(lambda d: ..., n) # the Deliveries received
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import itertools
import json
import os
import threading
import time
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]


def decrypt_aes128gcm(body: bytes, ua_private: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes:
    """RFC 8291 §3.4 and RFC 8188: one record; raises on anything malformed."""
    salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    if idlen != 65 or rs != 4096:
        raise ValueError(f"header: idlen {idlen}, rs {rs}")
    as_public = body[21:21 + idlen]
    ciphertext = body[21 + idlen:]
    if len(ciphertext) > rs:
        raise ValueError("more than one record")
    as_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public)
    ua_public = ua_private.public_key().public_bytes(serialization.Encoding.X962,
                                                     serialization.PublicFormat.UncompressedPoint)
    shared = ua_private.exchange(ec.ECDH(), as_key)
    ikm = _hkdf(auth, shared, b"WebPush: info\x00" + ua_public + as_public, 32)
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
    stripped = padded.rstrip(b"\x00")
    if not stripped.endswith(b"\x02"):
        raise ValueError("no last-record delimiter")
    return stripped[:-1]


@dataclass
class Subscription:
    id: int
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    answer: int = 201

    def json(self) -> dict:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}}


@dataclass
class Delivery:
    subscription: int
    answered: int
    headers: dict
    payload: dict | None = None
    problems: list[str] = field(default_factory=list)


class PushService:
    def __init__(self, *, vapid_public_key: str, subject: str):
        self.vapid_public_key = vapid_public_key
        self.subject = subject
        self.subscriptions: dict[int, Subscription] = {}
        self.deliveries: list[Delivery] = []
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status = service._receive(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def subscribe(self) -> Subscription:
        sid = next(self._ids)
        sub = Subscription(sid, f"{self.origin}/push/{sid}-{os.urandom(8).hex()}",
                           ec.generate_private_key(ec.SECP256R1()), os.urandom(16))
        with self.lock:
            self.subscriptions[sid] = sub
        return sub

    def to(self, sub: Subscription) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.subscription == sub.id]

    def wait_for(self, pred, n: int = 1, timeout: float = 20.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                got = [d for d in self.deliveries if pred(d)]
            if len(got) >= n or time.monotonic() > deadline:
                assert len(got) >= n, (f"{len(got)}/{n} deliveries within {timeout} s; "
                                       f"all: {self.deliveries!r}")
                return got
            time.sleep(0.05)

    # -- checks ---------------------------------------------------------------------------------

    def _receive(self, path: str, headers: dict, body: bytes) -> int:
        headers = {k.lower(): v for k, v in headers.items()}
        sub = next((s for s in self.subscriptions.values() if s.endpoint.endswith(path)), None)
        if sub is None:
            return 404
        delivery = Delivery(sub.id, sub.answer, headers)
        problems = delivery.problems
        if headers.get("content-encoding") != "aes128gcm":
            problems.append(f"Content-Encoding {headers.get('content-encoding')!r}")
        if not headers.get("ttl", "").isdigit():
            problems.append(f"TTL {headers.get('ttl')!r}")
        if headers.get("urgency") not in ("very-low", "low", "normal", "high"):
            problems.append(f"Urgency {headers.get('urgency')!r}")
        problems += self._check_vapid(headers.get("authorization", ""))
        try:
            delivery.payload = json.loads(decrypt_aes128gcm(body, sub.private_key, sub.auth))
        except Exception as exc:  # noqa: BLE001 (any failure is the finding)
            problems.append(f"decrypt: {exc!r}")
        with self.lock:
            self.deliveries.append(delivery)
        return sub.answer

    def _check_vapid(self, authorization: str) -> list[str]:
        """RFC 8292 §3: `vapid t=<JWT>, k=<key>`, the JWT signed ES256 (raw r||s) by k."""
        if not authorization.startswith("vapid "):
            return [f"Authorization {authorization!r}"]
        params = dict(p.strip().split("=", 1) for p in authorization[6:].split(","))
        problems = []
        if params.get("k") != self.vapid_public_key:
            problems.append(f"k {params.get('k')!r} is not the served key")
        try:
            head, claims, signature = params["t"].split(".")
            header = json.loads(b64url_decode(head))
            payload = json.loads(b64url_decode(claims))
            raw = b64url_decode(signature)
            if header != {"typ": "JWT", "alg": "ES256"} or len(raw) != 64:
                problems.append(f"JWT header {header!r}, signature {len(raw)} bytes")
            key = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), b64url_decode(self.vapid_public_key))
            der = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                       int.from_bytes(raw[32:], "big"))
            key.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return problems + ["the JWT's signature does not verify"]
        except Exception as exc:  # noqa: BLE001
            return problems + [f"JWT: {exc!r}"]
        now = time.time()
        if payload.get("aud") != self.origin:
            problems.append(f"aud {payload.get('aud')!r}")
        if not now < payload.get("exp", 0) <= now + 24 * 3600:
            problems.append(f"exp {payload.get('exp')!r} (now {now:.0f})")
        if payload.get("sub") != self.subject:
            problems.append(f"sub {payload.get('sub')!r}")
        return problems

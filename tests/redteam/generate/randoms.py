"""Random values shaped like real tokens (never real credentials), from a seeded RNG."""

from __future__ import annotations

import base64
import json
import random
import string
import uuid

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
HEX = "0123456789abcdef"
B64 = string.ascii_letters + string.digits + "+/"
B64URL = string.ascii_letters + string.digits + "-_"
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

WORDS = ["Winter", "Harbor", "Falcon", "Maple", "Orbit", "Copper", "Summit", "Velvet", "Quartz",
         "Lantern", "Cobalt", "Meadow", "Raven", "Tundra", "Cedar", "Pixel"]
SYMBOLS = "!#$%&*+-.?@^_~"


class Rand:
    def __init__(self, seed: str) -> None:
        self.r = random.Random(seed)

    def pick(self, alphabet: str, n: int) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def alnum(self, n: int) -> str:
        return self.pick(ALNUM, n)

    def hex(self, n: int) -> str:
        return self.pick(HEX, n)

    def digits(self, n: int) -> str:
        return str(self.r.randint(1, 9)) + self.pick(string.digits, n - 1)

    def b64(self, n: int) -> str:
        return self.pick(B64, n)

    def b64url(self, n: int) -> str:
        return self.pick(B64URL, n)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.r.getrandbits(128), version=4))

    def bytes_(self, n: int) -> bytes:
        return bytes(self.r.getrandbits(8) for _ in range(n))

    def password(self) -> str:
        style = self.r.randrange(3)
        if style == 0:
            return (self.r.choice(WORDS) + str(self.r.randint(2019, 2027)) + self.r.choice(SYMBOLS)
                    + self.r.choice(WORDS))
        if style == 1:
            return self.pick(ALNUM + SYMBOLS.replace("$", "").replace("&", ""), self.r.randint(14, 22))
        return (self.r.choice(WORDS).lower() + self.r.choice("-_.") + self.r.choice(WORDS).lower()
                + self.r.choice("-_.") + self.digits(4))

    def jwt(self, claims: dict, *, alg: str = "HS256", sig_len: int = 43) -> str:
        def enc(d: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{enc({'alg': alg, 'typ': 'JWT'})}.{enc(claims)}.{self.b64url(sig_len)}"

    def pem(self, label: str, der_prefix: bytes, n_bytes: int) -> tuple[str, str]:
        """``(block, body)``: a PEM block of random DER-looking bytes, and its body."""
        raw = der_prefix + self.bytes_(n_bytes - len(der_prefix))
        b = base64.b64encode(raw).decode()
        body = "\n".join(b[i:i + 64] for i in range(0, len(b), 64))
        return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----", body


# DER prefixes that make the bodies start the way real ones do.
RSA_PKCS8 = bytes.fromhex("308204be020100300d06092a864886f70d0101010500048204a8308204a40201000282010100")
RSA_PKCS1 = bytes.fromhex("308204a40201000282010100")
RSA4096_PKCS1 = bytes.fromhex("308209280201000282020100")
EC_PRIV = bytes.fromhex("307702010104")
OPENSSH = b"openssh-key-v1\x00\x00\x00\x00\x04none\x00\x00\x00\x04none\x00\x00\x00\x00\x00\x00\x00\x01"
CERT = bytes.fromhex("308203773082025fa003020102")

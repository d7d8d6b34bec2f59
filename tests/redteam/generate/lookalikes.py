"""Look-alike negatives: values with a secret's shape (long, random, base64 or hex) that
are public by design and must stay intact (a skill that quotes a digest or a go.sum line
with the value masked is wrong).

Decisions, labelled honestly: the AWS documentation keys (``AKIAIOSFODNN7EXAMPLE``) and
Stripe's published test key are ``strict=False`` (placeholders: masking them loses
nothing, so they are reported apart, not counted as false redactions). Stripe
``pk_live_`` publishable keys and Sentry DSNs are public by design (shipped to browsers)
and stay strict.
"""

from __future__ import annotations

import base64

from tests.redteam.corpus import LookalikeCase
from tests.redteam.generate.randoms import B32, CROCKFORD, NIX32, Rand

CERT_DER = bytes.fromhex("308203773082025fa003020102021100")
Line = tuple[str, str, list[str]]


def go_sum(r: Rand, n: int) -> Line:
    mods = ["github.com/stretchr/testify v1.9.0", "golang.org/x/sync v0.7.0",
            "github.com/go-chi/chi/v5 v5.0.12", "google.golang.org/grpc v1.63.2",
            "github.com/jackc/pgx/v5 v5.5.5"]
    m = mods[n % len(mods)]
    h1, h2 = f"h1:{r.b64(43)}=", f"h1:{r.b64(43)}="
    return ("file", f"{m} {h1}\n{m}/go.mod {h2}", [h1, h2])


def git_sha(r: Rand, n: int) -> Line:
    shas = [r.hex(40) for _ in range(3)]
    if n % 2:
        return ("output", "\n".join(f"commit {s}\nAuthor: Dev <dev@acme.io>\n\n    fix flaky test\n" for s in shas), shas)
    return ("output", "\n".join(f"{s[:7]} {msg}" for s, msg in zip(shas, ["fix cart totals", "bump deps", "add retries"], strict=True))
            + f"\nHEAD is now at {shas[0]}", [shas[0]] + [s[:7] for s in shas])


def ssh_public(r: Rand, n: int) -> Line:
    if n % 2:
        key = "AAAAC3NzaC1lZDI1NTE5AAAAI" + r.b64(43)
        line = f"ssh-ed25519 {key} dev@laptop"
    else:
        key = "AAAAB3NzaC1yc2EAAAADAQABAAABgQ" + r.b64(510)
        line = f"ssh-rsa {key} ci@build-01"
    ctx = "file" if n % 3 else "output"
    return (ctx, f"# ~/.ssh/authorized_keys\n{line}" if ctx == "file" else f"The key fingerprint is SHA256:{r.b64(43)}\n{line}", [key])


def x509(r: Rand, n: int) -> Line:
    raw = CERT_DER + r.bytes_(860)
    b = base64.b64encode(raw).decode()
    body = "\n".join(b[i:i + 64] for i in range(0, len(b), 64))
    block = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----"
    if n % 3 == 2:
        data = base64.b64encode(block.encode()).decode()
        return ("file", f"clusters:\n- cluster:\n    certificate-authority-data: {data}\n    server: https://10.0.0.1:6443", [data])
    return ("file" if n % 2 else "output", block, [body])


def nix_store(r: Rand, n: int) -> Line:
    names = ["openssl-3.0.13", "python3-3.12.3", "nodejs-20.12.2", "glibc-2.39-52", "postgresql-16.2"]
    paths = [f"/nix/store/{r.pick(NIX32, 32)}-{names[(n + i) % len(names)]}" for i in range(2)]
    return ("output", f"these 2 paths will be fetched (14.2 MiB download):\n  {paths[0]}\n  {paths[1]}", paths)


def stripe_ids(r: Rand, n: int) -> Line:
    evt, ch, cus = "evt_1P" + r.alnum(22), "ch_3P" + r.alnum(22), "cus_" + r.alnum(14)
    pi, inv = "pi_3P" + r.alnum(22), "in_1P" + r.alnum(22)
    return [("output", f'{{"id": "{evt}", "type": "charge.succeeded", "data": {{"object": {{"id": "{ch}", "customer": "{cus}"}}}}}}', [evt, ch, cus]),
            ("output", f"2026-11-25 12:01:44  --> payment_intent.succeeded [{evt}]\n2026-11-25 12:01:44  <-- [200] POST http://localhost:4242/webhook [{evt}]", [evt]),
            ("output", f"Refund failed for {ch}: charge already refunded (customer {cus}, invoice {inv}, intent {pi})", [ch, cus, inv, pi])][n % 3]


def trace_ids(r: Rand, n: int) -> Line:
    t, s = r.hex(32), r.hex(16)
    return [("output", f"traceparent: 00-{t}-{s}-01", [t, s]),
            ("output", f'{{"level":"error","msg":"upstream timeout","trace_id":"{t}","span_id":"{s}"}}', [t, s]),
            ("output", f"X-Request-Id: {r.uuid()}\nX-Amzn-Trace-Id: Root=1-{r.hex(8)}-{r.hex(24)}", []),
            ("output", f"otel: exported span {s} of trace {t} to collector", [t, s])][n % 4]


def ulid(r: Rand, n: int) -> Line:
    ids = ["01HX" + r.pick(CROCKFORD, 22) for _ in range(3)]
    return ("output", "\n".join(f"job {i} queued as {x}" for i, x in enumerate(ids)), ids)


def uuids(r: Rand, n: int) -> Line:
    ids = [r.uuid() for _ in range(2)]
    return [("output", f"Created order {ids[0]} for customer {ids[1]}", ids),
            ("file", f'resource "aws_instance" "api" {{}}\n# lineage = "{ids[0]}"', [ids[0]])][n % 2]


def lock_integrity(r: Rand, n: int) -> Line:
    sri = "sha512-" + r.b64(86) + "=="
    h = r.hex(64)
    return [("file", f'"node_modules/zod": {{\n  "version": "3.23.8",\n  "resolved": "https://registry.npmjs.org/zod/-/zod-3.23.8.tgz",\n  "integrity": "{sri}"\n}}', [sri]),
            ("file", f'[[package]]\nname = "serde"\nversion = "1.0.203"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "{h}"', [h]),
            ("file", f'requests==2.32.3 \\\n    --hash=sha256:{h}', [h]),
            ("file", f'[[package]]\nname = "click"\nfiles = [\n    {{file = "click-8.1.7-py3-none-any.whl", hash = "sha256:{h}"}},\n]', [h]),
            ("file", f'zod@^3.23.8:\n  version "3.23.8"\n  resolved "https://registry.yarnpkg.com/zod/-/zod-3.23.8.tgz#{r.hex(40)}"\n  integrity {sri}', [sri])][n % 5]


def base64_image(r: Rand, n: int) -> Line:
    raw = base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + r.bytes_(300)).decode()
    return ("file", f'<img alt="logo" src="data:image/png;base64,{raw}" />', [raw])


def docker_digest(r: Rand, n: int) -> Line:
    d = "sha256:" + r.hex(64)
    return [("command", f"docker pull python@{d}", [d]),
            ("output", f"3.12-slim: Pulling from library/python\nDigest: {d}\nStatus: Downloaded newer image for python:3.12-slim", [d]),
            ("file", f"FROM node:20-alpine@{d}\nWORKDIR /app", [d]),
            ("output", f"REPOSITORY   TAG    IMAGE ID       CREATED\napi          2.4.1  {r.hex(12)}   2 hours ago\n{d}", [d])][n % 4]


def checksums(r: Rand, n: int) -> Line:
    h = r.hex(64)
    md5 = r.hex(32)
    return [("output", f"{h}  node-v20.11.1-linux-x64.tar.xz", [h]),
            ("output", f'ETag: "{md5}"\nContent-Length: 18874', [md5]),
            ("file", f"version https://git-lfs.github.com/spec/v1\noid sha256:{h}\nsize 1048576", [h])][n % 3]


def chain_values(r: Rand, n: int) -> Line:
    addr, tx = "0x" + r.hex(40), "0x" + r.hex(64)
    return [("output", f"Transaction sent: {tx}\n  from: {addr}\n  status: 1 (success)", [tx, addr]),
            ("output", f"Contract deployed at {addr}", [addr])][n % 2]


def public_by_design(r: Rand, n: int) -> Line:
    pk = "pk_live_" + r.alnum(99)
    dsn = f"https://{r.hex(32)}@o{r.digits(6)}.ingest.sentry.io/{r.digits(7)}"
    age = "age1" + r.pick("qpzry9x8gf2tvdw0s3jn54khce6mua7l", 58)
    wg_pub = base64.b64encode(r.bytes_(32)).decode()
    return [("file", f"NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY={pk}", [pk]),
            ("file", f'Sentry.init({{ dsn: "{dsn}" }});', [dsn]),
            ("file", f"# recipients\n{age}", [age]),
            ("file", f"[Peer]\nPublicKey = {wg_pub}\nAllowedIPs = 10.8.0.0/24", [wg_pub])][n % 4]


def pgp_public(r: Rand, n: int) -> Line:
    b = base64.b64encode(b"\x99\x01\x0d\x04" + r.bytes_(600)).decode()
    body = "\n".join(b[i:i + 64] for i in range(0, len(b), 64))
    return ("file", f"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n{body}\n-----END PGP PUBLIC KEY BLOCK-----", [body])


def misc_ids(r: Rand, n: int) -> Line:
    return [("output", f"arn:aws:iam::{r.digits(12)}:role/ci-deploy assumed; bucket ETag {r.hex(32)}", []),
            ("output", f"pod/api-7d9f8b6c5-{r.pick('bcdfghjklmnpqrstvwxz2456789', 5)} 1/1 Running  resourceVersion={r.digits(8)}", []),
            ("output", f"Added bafybei{r.pick(B32.lower(), 52)} site.tar.gz", []),
            ("file", f'<script src="/assets/main.{r.hex(8)}.js" integrity="sha384-{r.b64(64)}" crossorigin="anonymous"></script>', []),
            ("output", f"Built target in dist/app-{r.hex(20)}.js (sourcemap {r.hex(16)})", [])][n % 5]


def placeholders(r: Rand, n: int) -> Line:
    return [("file", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
             ["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]),
            ("file", "STRIPE_SECRET_KEY=sk_test_4eC39HqLyjWDarjtT1zdp7dc", ["sk_test_4eC39HqLyjWDarjtT1zdp7dc"]),
            ("file", "OPENAI_API_KEY=<your-api-key>", ["<your-api-key>"]),
            ("file", "DATABASE_URL=postgres://user:password@localhost:5432/app", ["postgres://user:password@localhost:5432/app"]),
            ("file", "export GITHUB_TOKEN=${GITHUB_TOKEN:?set it in your shell}\nexport DB_PASSWORD=$(vault kv get -field=password secret/db)",
             ["${GITHUB_TOKEN:?set it in your shell}", "$(vault kv get -field=password secret/db)"])][n % 5]


# Documented placeholders: masking them loses nothing (reported apart, not counted).
LENIENT = {("placeholders", 0), ("placeholders", 1), ("placeholders", 3)}


KINDS: list[tuple[str, int]] = [  # (kind, count)
    ("go_sum", 5), ("git_sha", 5), ("ssh_public", 6), ("x509", 5),
    ("nix_store", 4), ("stripe_ids", 6), ("trace_ids", 5), ("ulid", 3),
    ("uuids", 4), ("lock_integrity", 5), ("base64_image", 3),
    ("docker_digest", 4), ("checksums", 3), ("chain_values", 2),
    ("public_by_design", 4), ("pgp_public", 1), ("misc_ids", 5),
    ("placeholders", 5),
]
MAKERS = {name: globals()[name] for name, _ in KINDS}


def build() -> list[LookalikeCase]:
    cases = []
    for kind, count in KINDS:
        for n in range(count):
            r = Rand(f"lookalike-{kind}-{n}")
            context, line, values = MAKERS[kind](r, n)
            if not values:  # ids of no fixed label: every long token of the line stays
                values = [t for t in line.replace('"', " ").split() if len(t) >= 16]
            for v in values:
                if v not in line:
                    raise ValueError(f"{kind}#{n}: value not in its line")
            lenient = (kind, n) in LENIENT
            cases.append(LookalikeCase(id=f"look-{kind}-{n}", kind=kind, context=context,  # type: ignore[arg-type]
                                       line=line, values=values, strict=not lenient))
    return cases


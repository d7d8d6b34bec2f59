"""A local S3 server for tests: moto's server mode, on loopback, in its own process.

In-process (ThreadedMotoServer) it deadlocks: some delta-rs calls (is_deltatable) block
while holding the GIL the server thread needs.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from hivemind_kafka.runtime.broker import free_port, is_listening


@contextlib.contextmanager
def moto_s3(bucket: str, *, log_path: Path | None = None, start_timeout_s: float = 60) -> Iterator[str]:
    """Run moto's S3 server with ``bucket`` created; yields its endpoint URL, always stops it."""
    import boto3

    port = free_port()
    out = log_path.open("wb") if log_path else subprocess.DEVNULL
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                               "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while not is_listening("127.0.0.1", port):
            assert server.poll() is None, f"moto server exited; see {log_path or 'its output'}"
            assert time.monotonic() < deadline, f"moto server did not listen within {start_timeout_s} s"
            time.sleep(0.1)
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test",
                     ).create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)
        if log_path:
            out.close()  # type: ignore[union-attr]

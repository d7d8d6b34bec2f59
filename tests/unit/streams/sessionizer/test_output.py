"""The worker's librdkafka output producer: a reset for a new cluster leaves no future
waiting (a batch waiting on one would stall the worker for ever)."""

from __future__ import annotations

import asyncio

from hivemind_kafka.runtime.broker import free_port
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.streams.sessionizer.output import OutputProducer


def test_a_reset_fails_every_future_the_old_producer_still_owed():
    async def scenario():
        # Nothing listens there: the messages stay queued in the old producer.
        settings = Settings().replace(kafka={"bootstrap": f"127.0.0.1:{free_port()}"})
        out = OutputProducer(settings, max_record_bytes=1 << 20)
        futures = [out.topic("t").send_soon(key=b"k", value=b"v%d" % i) for i in range(50)]
        await asyncio.sleep(0.2)
        assert not any(f.done() for f in futures)
        out.reset()
        await asyncio.sleep(0)
        assert all(f.done() and f.exception() is not None for f in futures)
        assert await out.drain(timeout_s=0.1) == 0
        # The new producer works as before: a send is pending, then owed.
        again = out.topic("t").send_soon(key=b"k", value=b"v")
        assert not again.done() and await out.drain(timeout_s=0.1) == 1
        out.reset()

    asyncio.run(scenario())

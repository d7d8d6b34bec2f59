"""runtime.kafka.produce_confirmed without a broker: every way a record can fail to be
confirmed is a DeliveryNotConfirmed (a BrokerUnavailable), never a raw client error."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from hivemind_kafka.runtime.errors import BrokerUnavailable, DeliveryNotConfirmed
from hivemind_kafka.runtime.kafka import produce_confirmed


@pytest.fixture
def producer():
    p = Producer({"bootstrap.servers": "127.0.0.1:9", "message.max.bytes": 2000,
                  "message.timeout.ms": 1000, "log_level": 0})
    yield p
    p.purge()


def test_a_record_the_client_refuses_at_once_is_not_confirmed(producer):
    with pytest.raises(DeliveryNotConfirmed, match="refused"):
        produce_confirmed(producer, "t", key=b"k", value=b"x" * 5000, timeout_s=5)


def test_no_broker_means_no_confirmation_within_the_timeout(producer):
    with pytest.raises(BrokerUnavailable, match="was not delivered"):
        produce_confirmed(producer, "t", key=b"k", value=b"x", timeout_s=0.3)

"""A Faust transport whose consumers read only committed records.

faust-streaming 0.15 hard-codes isolation_level="read_uncommitted" unless the app runs
exactly-once (faust/transport/drivers/aiokafka.py, _create_worker_consumer), and its
exactly-once mode has open bugs. Views built from uncommitted reads would include events
of aborted processor transactions, so we keep at-least-once and switch the isolation.
"""

from __future__ import annotations

import faust
from faust.transport.drivers import aiokafka as driver


class _ReadCommittedThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):  # type: ignore[no-untyped-def]
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands _isolation_level to its Fetcher in start(), which comes later.
        consumer._isolation_level = "read_committed"
        return consumer


class _ReadCommittedConsumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ReadCommittedThread(self, loop=self.loop, beacon=self.beacon)


class ReadCommittedTransport(driver.Transport):
    Consumer = _ReadCommittedConsumer


class ReadCommittedApp(faust.App):
    def _new_transport(self):  # type: ignore[no-untyped-def]
        return ReadCommittedTransport(self.conf.broker_consumer, self)

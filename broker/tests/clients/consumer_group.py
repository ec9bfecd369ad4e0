"""Two kafka-python consumers (unmodified defaults) in one group consume every message exactly
once; when one leaves, the other takes its partitions and continues from committed offsets.

Usage: consumer_group.py PROPERTIES TOPIC
"""
import sys
import threading
import time

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import CommitFailedError

from common import fail, settings

properties, topic = sys.argv[1], sys.argv[2]
conf = settings(properties)
FIRST, SECOND = 2000, 1000


def produce(start, count):
    producer = KafkaProducer(acks="all", **conf)  # idempotence is on by default in kafka-python 3
    futures = [producer.send(topic, value=b"m-%06d" % i) for i in range(start, start + count)]
    producer.flush(60)
    for future in futures:
        future.get(timeout=60)
    producer.close()


consumed = {"a": [], "b": []}
assigned = {"a": set(), "b": set()}
stop = {"a": threading.Event(), "b": threading.Event()}
total_target = [FIRST]
lock = threading.Lock()


def total():
    with lock:
        return len(consumed["a"]) + len(consumed["b"])


def run(name):
    """A record counts as consumed once its offset commit succeeded: a commit refused because
    the group is rebalancing leaves the records to be delivered again from the committed
    offset (Kafka's at-least-once delivery; processing is exactly once per group)."""
    consumer = KafkaConsumer(topic, group_id="exactly-once-group", enable_auto_commit=False, auto_offset_reset="earliest", **conf)
    while not stop[name].is_set():
        batch = consumer.poll(timeout_ms=200)
        if not batch:
            continue
        try:
            consumer.commit()
        except CommitFailedError:
            # Not committed: rewind, so that whoever owns each partition after the rebalance
            # reads these records again from the committed offset.
            for tp, records in batch.items():
                try:
                    consumer.seek(tp, records[0].offset)
                except Exception:
                    pass  # no longer ours: the new owner starts from the committed offset
            continue
        with lock:
            for tp, records in batch.items():
                assigned[name].add(tp.partition)
                consumed[name].extend((tp.partition, r.offset, r.value) for r in records)
    consumer.close()  # leaves the group


produce(0, FIRST)
threads = {n: threading.Thread(target=run, args=(n,)) for n in ("a", "b")}
for t in threads.values():
    t.start()
deadline = time.time() + 90
while total() < FIRST and time.time() < deadline:
    time.sleep(0.2)
if total() < FIRST:
    fail(f"consumed {total()} of {FIRST}")
time.sleep(1)
if not assigned["a"] or not assigned["b"]:
    fail(f"both members should own partitions: a={sorted(assigned['a'])} b={sorted(assigned['b'])}")
print(f"phase 1: a owned {sorted(assigned['a'])}, b owned {sorted(assigned['b'])}")

# Member a leaves; b must take over a's partitions from the committed offsets.
stop["a"].set()
threads["a"].join()
before_b = set(assigned["b"])
produce(FIRST, SECOND)
deadline = time.time() + 90
while total() < FIRST + SECOND and time.time() < deadline:
    time.sleep(0.2)
time.sleep(2)  # anything extra (a duplicate) would arrive now
stop["b"].set()
threads["b"].join()

values = [v for n in ("a", "b") for (_, _, v) in consumed[n]]
expected = {b"m-%06d" % i for i in range(FIRST + SECOND)}
if len(values) != len(set(values)):
    fail(f"duplicates: {len(values) - len(set(values))}")
if set(values) != expected:
    fail(f"missing {len(expected - set(values))}, unexpected {len(set(values) - expected)}")
if not (assigned["b"] - before_b):
    fail("b never took over a's partitions")
print(f"ok: {len(values)} messages exactly once; b took over partitions {sorted(assigned['b'] - before_b)}")

"""Produce numbered messages with acks=all (kafka-python, idempotent) for DURATION seconds;
print every acknowledged value. Usage: PROPERTIES TOPIC DURATION_SECONDS OUT_FILE"""
import logging
import sys
import time

from kafka import KafkaProducer

from common import settings

# kafka-python's retries and metadata refreshes, for the test's failure message.
logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

properties, topic, duration, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
producer = KafkaProducer(acks="all", retries=2**31 - 1, delivery_timeout_ms=120000, request_timeout_ms=10000, **settings(properties))
acked, failed = [], []
end = time.time() + duration
i = 0
while time.time() < end:
    value = b"v-%07d" % i
    producer.send(topic, value=value).add_callback(lambda _md, v=value: acked.append(v)).add_errback(lambda e, v=value: failed.append((v, repr(e))))
    i += 1
    time.sleep(0.002)
try:
    producer.flush(130)
finally:
    # Written even when flush gives up, so that the test can say what was still in flight.
    with open(out, "w") as f:
        for v in acked:
            f.write(v.decode() + "\n")
    print(f"sent {i}, acked {len(acked)}, failed {len(failed)}, first failures {failed[:3]}", flush=True)
producer.close()

"""Produce throughput and acknowledgement latency of a running cluster, measured by librdkafka.

confluent-kafka's producer (librdkafka, a client nobody here wrote): 1 KiB records, acks=all,
linger.ms=5, batch.size=262144, no compression, into a topic of `--partitions` partitions with
replication factor 3. The latency of a record is from `produce()` to its delivery report (the
acknowledgement), so under saturating load it includes the client's own queueing.

    python ci/bench-librdkafka.py D/operator.properties --records 400000
    python ci/bench-librdkafka.py D/operator.properties --seconds 20 --rate-mb 150

Prints one line per phase and a summary: MB/s, records/s, p50/p99/max latency. With `--rate-mb`
the producer paces itself (a latency-at-load measurement); without it, it saturates.
"""

import argparse
import sys
import time
import uuid

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

RECORD_BYTES = 1024


def properties(path):
    config = {}
    with open(path) as file:
        for line in file:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                config[key.strip()] = value.strip()
    return config


def create_topic(config, name, partitions):
    admin = AdminClient(config)
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=3)])
    for future in futures.values():
        future.result(timeout=30)


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(round((len(sorted_values) - 1) * p)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("properties", help="client properties (bootstrap, SASL_SSL, CA) of the cluster")
    parser.add_argument("--records", type=int, default=0, help="records to produce (default: run for --seconds)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to produce when --records is 0")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rate-mb", type=float, default=0.0, help="pace to this many MB/s (0: as fast as possible)")
    parser.add_argument("--linger-ms", type=float, default=5.0, help="librdkafka's linger.ms (batching delay)")
    parser.add_argument("--topic", default="", help="topic (default: a fresh bench-<uuid>)")
    args = parser.parse_args()

    config = properties(args.properties)
    topic = args.topic or f"bench-{uuid.uuid4().hex[:8]}"
    try:
        create_topic(config, topic, args.partitions)
    except KafkaException as error:
        if "TOPIC_ALREADY_EXISTS" not in str(error):
            sys.exit(f"cannot create {topic}: {error}")

    producer = Producer(
        {
            **config,
            "acks": "all",
            "linger.ms": args.linger_ms,
            "batch.size": 262144,
            "compression.type": "none",
            "enable.idempotence": False,
            "queue.buffering.max.kbytes": 1048576,
            "queue.buffering.max.messages": 1000000,
        }
    )
    payload = b"x" * RECORD_BYTES
    latencies = []
    failures = []
    now = time.perf_counter

    def delivered(error, message):
        if error is not None:
            failures.append(error)
        else:
            # librdkafka's clock from produce() to this callback, which runs inside poll():
            # the loop below polls after every record and while it waits, so that the delay of
            # the script's own polling stays out of the measurement (polling only every 1000
            # records added up to 1000 records' worth of time to every latency).
            latencies.append(message.latency())

    # Warm up: metadata, connections, the first batches of every partition.
    for i in range(2000):
        producer.produce(topic, payload, partition=i % args.partitions)
    producer.flush(30)

    start = now()
    deadline = start + args.seconds
    sent = 0
    pace = args.rate_mb * 1e6 / RECORD_BYTES if args.rate_mb else 0.0
    while (args.records and sent < args.records) or (not args.records and now() < deadline):
        if pace:
            due = start + sent / pace
            wait = due - now()
            if wait > 0:
                producer.poll(wait)
        try:
            producer.produce(topic, payload, partition=sent % args.partitions, on_delivery=delivered)
        except BufferError:
            producer.poll(0.01)
            continue
        sent += 1
        producer.poll(0)
    remaining = producer.flush(120)
    elapsed = now() - start

    latencies.sort()
    acked = len(latencies)
    mb = acked * RECORD_BYTES / 1e6
    print(f"topic {topic}: {args.partitions} partitions, replication factor 3, acks=all, "
          f"{RECORD_BYTES} B records, linger.ms={args.linger_ms:g}, batch.size=262144"
          + (f", paced to {args.rate_mb:.0f} MB/s" if pace else ", saturating"))
    print(f"  acknowledged: {acked} records in {elapsed:.2f} s ({len(failures)} failed, {remaining} undelivered)")
    print(f"  throughput: {mb / elapsed:.1f} MB/s, {acked / elapsed:.0f} records/s")
    print(f"  acknowledgement latency: p50 {percentile(latencies, 0.5) * 1e3:.2f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1e3:.2f} ms, max {percentile(latencies, 1.0) * 1e3:.2f} ms")
    if failures or remaining:
        print(f"  first failure: {failures[0] if failures else 'undelivered at the end'}")
        sys.exit(1)


if __name__ == "__main__":
    main()

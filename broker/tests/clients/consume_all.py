"""Print every value in TOPIC (all partitions, from the start). Usage: PROPERTIES TOPIC OUT_FILE"""
import sys

from kafka import KafkaConsumer, TopicPartition

from common import settings

properties, topic, out = sys.argv[1], sys.argv[2], sys.argv[3]
consumer = KafkaConsumer(enable_auto_commit=False, **settings(properties))
partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
consumer.assign(partitions)
consumer.seek_to_beginning()
end = consumer.end_offsets(partitions)
values = []
while any(consumer.position(tp) < end[tp] for tp in partitions):
    for records in consumer.poll(timeout_ms=1000).values():
        values.extend(r.value.decode() for r in records)
with open(out, "w") as f:
    f.write("\n".join(values) + ("\n" if values else ""))
print(f"consumed {len(values)}")

"""create-topic PROPERTIES NAME PARTITIONS REPLICATION_FACTOR (kafka-python's admin client, unmodified)."""
import sys
import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from common import settings

properties, name, partitions, factor = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
admin = KafkaAdminClient(**settings(properties))
try:
    admin.create_topics([NewTopic(name, partitions, factor)])
except TopicAlreadyExistsError:
    pass
# Wait until every partition has a leader.
deadline = time.time() + 30
while time.time() < deadline:
    described = admin.describe_topics([name])
    parts = described[0]["partitions"] if described else []
    if len(parts) == partitions and all(p["leader_id"] >= 0 for p in parts):
        print("created", name)
        sys.exit(0)
    time.sleep(0.2)
print("FAIL: topic never got leaders", file=sys.stderr)
sys.exit(1)

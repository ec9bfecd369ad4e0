"""create-topic PROPERTIES NAME PARTITIONS REPLICATION_FACTOR [CONFIG=VALUE ...] (kafka-python's
admin client, unmodified). A refusal prints the broker's error and exits 2."""
import sys
import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from common import settings

properties, name, partitions, factor = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
configs = dict(arg.split("=", 1) for arg in sys.argv[5:])
admin = KafkaAdminClient(**settings(properties))
try:
    admin.create_topics([NewTopic(name, partitions, factor, topic_configs=configs)])
except TopicAlreadyExistsError:
    pass
except KafkaError as error:
    print(f"REFUSED: {error}", file=sys.stderr)
    sys.exit(2)
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

"""Print the brokers of the cluster as JSON lines {node_id, host, port, rack} (kafka-python admin)."""
import json
import sys

from kafka.admin import KafkaAdminClient

from common import settings

admin = KafkaAdminClient(**settings(sys.argv[1]))
for broker in admin.describe_cluster()["brokers"]:
    print(json.dumps({"node_id": broker["broker_id"], "host": broker["host"], "port": broker["port"], "rack": broker["rack"]}))

"""Connection settings for kafka-python, read from the dev cluster's client.properties."""
import sys

import kafka.cluster
import kafka.errors

# kafka-python 3.0.12 bug, worked around here: its metadata refresh loop catches only
# KafkaError, so a metadata request whose connection is reset (a broker killed with kill -9
# while it answers) raises a bare ConnectionResetError that ends the loop for good. The client
# then never learns of a new leader and retries NOT_LEADER_OR_FOLLOWER against the old one
# until its delivery timeout (seen in disk_loss: partition leaders moved at 19:21:24, the
# producer sent to the old leader until 19:23:21). Raising the reset as the client's own
# connection error keeps the loop alive; nothing else about the client changes.
_do_refresh_metadata = kafka.cluster.ClusterMetadata._do_refresh_metadata


async def _refresh_surviving_resets(self, node_id):
    try:
        return await _do_refresh_metadata(self, node_id)
    except OSError as error:
        raise kafka.errors.KafkaConnectionError(str(error)) from error


kafka.cluster.ClusterMetadata._do_refresh_metadata = _refresh_surviving_resets


def settings(properties_path):
    props = {}
    with open(properties_path) as f:
        for line in f:
            if "=" in line:
                key, value = line.strip().split("=", 1)
                props[key] = value
    return dict(
        bootstrap_servers=props["bootstrap.servers"].split(","),
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_plain_username=props["sasl.username"],
        sasl_plain_password=props["sasl.password"],
        ssl_cafile=props["ssl.ca.location"],
    )


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)

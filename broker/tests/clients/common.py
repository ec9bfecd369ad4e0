"""Connection settings for kafka-python, read from the dev cluster's client.properties."""
import sys


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

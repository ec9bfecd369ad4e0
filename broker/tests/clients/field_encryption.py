"""Client-side field-level encryption (C26) with kafka-python and `cryptography`: the card
number of each order is sealed with AES-256-GCM under a key only this client holds, so the
service stores and replicates it without ever seeing it.

A sealed field is version (1 byte, 1) || nonce (12) || ciphertext || tag (16), with the field's
name as associated data: the same format as faultline's Rust `FieldCipher`, so either side
opens what the other sealed.

Usage:
  field_encryption.py new-key KEY_FILE
  field_encryption.py produce PROPERTIES TOPIC KEY_FILE COUNT CARD_PREFIX
  field_encryption.py consume PROPERTIES TOPIC KEY_FILE OUT_FILE
"""
import base64
import json
import os
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from common import fail, settings

VERSION = b"\x01"
FIELD = "card"


def seal(key, field, plaintext):
    nonce = os.urandom(12)
    return VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, field.encode())


def open_sealed(key, field, sealed):
    if sealed[:1] != VERSION:
        raise ValueError(f"unknown sealed-field version {sealed[:1]!r}")
    return AESGCM(key).decrypt(sealed[1:13], sealed[13:], field.encode())


def read_key(path):
    with open(path) as f:
        key = bytes.fromhex(f.read().strip())
    if len(key) != 32:
        fail(f"{path}: a key is 32 bytes (64 hex digits), not {len(key)}")
    return key


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "new-key" and len(sys.argv) == 3:
        with open(os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(os.urandom(32).hex() + "\n")
    elif command == "produce" and len(sys.argv) == 7:
        properties, topic, key_file, count, prefix = sys.argv[2:]
        key = read_key(key_file)
        producer = KafkaProducer(acks="all", **settings(properties))
        for order in range(int(count)):
            card = f"{prefix}-{order:04d}".encode()
            value = {"order": order, FIELD: base64.b64encode(seal(key, FIELD, card)).decode()}
            producer.send(topic, json.dumps(value).encode()).get(timeout=30)
        producer.flush()
        print(f"produced {count}")
    elif command == "consume" and len(sys.argv) == 6:
        properties, topic, key_file, out = sys.argv[2:]
        key = read_key(key_file)
        consumer = KafkaConsumer(enable_auto_commit=False, **settings(properties))
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        end = consumer.end_offsets(partitions)
        lines = []
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    value = json.loads(record.value)
                    card = open_sealed(key, FIELD, base64.b64decode(value[FIELD]))
                    lines.append(f"{value['order']} {card.decode()}")
        with open(out, "w") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))
        print(f"consumed {len(lines)}")
    else:
        fail(__doc__)


main()

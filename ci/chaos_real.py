"""Real-mode chaos: the dev cluster as separate processes (three `broker node`s, the key service,
the control plane, the log store, the operators' hosts, detection), kafka-python producers and a
consumer, and a short schedule of faults on real processes and sockets:

  kill -9 of node 2, its restart, then node 3 cut off the network (iptables drops every packet
  its process sends: an owner match on the group id it runs under), then healed.

Every operation is recorded with its wall-clock time in the simulation's history format; after
the faults, a fresh consumer drains every partition, and `faultline check-history` (the
simulation's own Kafka checker) judges the run. Exit status: the checker's.

Usage: chaos_real.py BROKER_BIN FAULTLINE_BIN RUN_DIR
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "broker", "tests", "clients"))
from common import settings  # noqa: E402

from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402

BROKER, FAULTLINE, RUN = sys.argv[1], sys.argv[2], sys.argv[3]
TOPIC, PARTITIONS = "chaos", 3
NODE_GID = {1: 3001, 2: 3002, 3: 3003}
# Seconds after the workload starts.
KILL_AT, RESTART_AT, PARTITION_AT, HEAL_AT, STOP_AT = 5, 15, 25, 40, 45

start = time.monotonic()
ops, ops_lock, schedule = [], threading.Lock(), []
processes = {}


def now_ms():
    return int((time.monotonic() - start) * 1000)


def record(op):
    with ops_lock:
        ops.append(op)


def log(message):
    print(f"[{time.monotonic() - start:6.1f} s] {message}", flush=True)


def spawn(name, args, gid=None):
    logfile = open(os.path.join(RUN, f"{name}.log"), "ab")

    def as_group():
        if gid is not None:
            os.setgroups([gid])
            os.setgid(gid)

    processes[name] = subprocess.Popen([BROKER, *args, "--dir", RUN], stdout=subprocess.DEVNULL, stderr=logfile, preexec_fn=as_group)


def start_node(node):
    spawn(f"node-{node}", ["node", "--id", str(node)], gid=NODE_GID[node])


def iptables(action, node):
    rule = ["OUTPUT", "-m", "owner", "--gid-owner", str(NODE_GID[node]), "-j", "DROP"]
    subprocess.run(["iptables", action, *rule], check=True)


def wait_until_ready():
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        listing = subprocess.run(["kcat", "-F", os.path.join(RUN, "operator.properties"), "-L", "-m", "5"], capture_output=True, text=True).stdout
        if "3 brokers" in listing and "__consumer_offsets" in listing and "leader -1" not in listing:
            return
        time.sleep(1)
    sys.exit(f"the cluster was not ready after 90 s; logs in {RUN}")


def produce(process, stop):
    producer = KafkaProducer(acks="all", retries=2**31 - 1, request_timeout_ms=5000, delivery_timeout_ms=30000, max_in_flight_requests_per_connection=1, **settings(props))
    pending, pending_lock = {}, threading.Lock()

    def send_op(value, outcome):
        with pending_lock:
            partition, began = pending.pop(value, (None, None))
        if partition is not None:
            record({"process": process, "start_ms": began, "end_ms": now_ms(), "kind": {"send": {"partition": {"topic": TOPIC, "partition": partition}, "value": value, "outcome": outcome}}})

    n = 0
    while not stop.is_set():
        value = (process << 32) | n
        partition = n % PARTITIONS
        with pending_lock:
            pending[value] = (partition, now_ms())
        future = producer.send(TOPIC, value=str(value).encode(), partition=partition)
        future.add_callback(lambda metadata, value=value: send_op(value, {"acked": {"offset": metadata.offset}}))
        # A client error does not say whether the broker appended: indeterminate.
        future.add_errback(lambda error, value=value: send_op(value, {"indeterminate": {"error": repr(error)}}))
        n += 1
        time.sleep(0.01)
    try:
        producer.flush(60)
        producer.close(5)
    except Exception as error:  # noqa: BLE001: what is still unanswered is recorded below
        log(f"producer {process}: gave up waiting for answers: {error!r}")
    with pending_lock:
        unanswered = list(pending)
    for value in unanswered:
        send_op(value, {"indeterminate": {"error": "no answer by the end of the run"}})
    log(f"producer {process}: {n} sends, {len(unanswered)} never answered")


def poll_into_history(consumer, process, group):
    began = now_ms()
    try:
        batches = consumer.poll(timeout_ms=500)
    except Exception as error:  # noqa: BLE001: every client failure is a failed poll
        record({"process": process, "start_ms": began, "end_ms": now_ms(), "kind": {"poll": {"group": group, "outcome": {"failed": {"error": repr(error)}}}}})
        return 0
    records = [[{"topic": TOPIC, "partition": tp.partition}, r.offset, int(r.value)] for tp, rs in batches.items() for r in rs]
    record({"process": process, "start_ms": began, "end_ms": now_ms(), "kind": {"poll": {"group": group, "outcome": {"ok": {"records": records}}}}})
    return len(records)


def consume(process, stop):
    consumer = KafkaConsumer(auto_offset_reset="earliest", enable_auto_commit=False, request_timeout_ms=10000, **settings(props))
    consumer.assign([TopicPartition(TOPIC, p) for p in range(PARTITIONS)])
    consumer.seek_to_beginning()
    while not stop.is_set():
        poll_into_history(consumer, process, "chaos-live")
    consumer.close()


def drain(process):
    """Reads every partition to its end: an acknowledged write no poll returned is lost."""
    consumer = KafkaConsumer(auto_offset_reset="earliest", enable_auto_commit=False, request_timeout_ms=10000, **settings(props))
    partitions = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    ends = consumer.end_offsets(partitions)
    deadline = time.monotonic() + 120
    while any(consumer.position(tp) < ends[tp] for tp in partitions):
        if time.monotonic() > deadline:
            sys.exit(f"the drain did not reach the end offsets {ends} in 120 s")
        poll_into_history(consumer, process, "chaos-drain")
    consumer.close()
    log(f"drained to end offsets {[ends[tp] for tp in partitions]}")


subprocess.run([BROKER, "init", "--dir", RUN], check=True, stdout=subprocess.DEVNULL)
props = os.path.join(RUN, "client.properties")
for name in ["kms", "log-store", "operators", "control-plane", "detection"]:
    spawn(name, [name])
for node in (1, 2, 3):
    start_node(node)
try:
    wait_until_ready()
    subprocess.run([sys.executable, os.path.join(HERE, "..", "broker", "tests", "clients", "admin.py"), props, TOPIC, str(PARTITIONS), "3"], check=True)
    log("cluster ready, topic created; workload starts")
    start = time.monotonic()
    stop = threading.Event()
    workers = [threading.Thread(target=produce, args=(p, stop)) for p in (1, 2)] + [threading.Thread(target=consume, args=(10, stop))]
    for worker in workers:
        worker.start()
    for at, what in [(KILL_AT, "kill -9 node 2"), (RESTART_AT, "restart node 2"), (PARTITION_AT, "partition node 3 (iptables: every packet it sends dropped)"), (HEAL_AT, "heal node 3"), (STOP_AT, None)]:
        time.sleep(max(0, at - (time.monotonic() - start)))
        if what is None:
            break
        log(what)
        schedule.append(f"{at:.1f} s: {what}")
        if what.startswith("kill"):
            processes["node-2"].send_signal(signal.SIGKILL)
            processes["node-2"].wait()
        elif what.startswith("restart"):
            start_node(2)
        elif what.startswith("partition"):
            iptables("-A", 3)
        else:
            listing = subprocess.run(["iptables", "-L", "OUTPUT", "-v", "-n", "-x"], capture_output=True, text=True).stdout
            dropped = next((line.split()[0] for line in listing.splitlines() if f"owner GID match {NODE_GID[3]}" in line), "?")
            schedule[-1] += f" ({dropped} packets of node 3 dropped)"
            iptables("-D", 3)
    stop.set()
    for worker in workers:
        worker.join()
    drain(11)
finally:
    subprocess.run(["iptables", "-D", "OUTPUT", "-m", "owner", "--gid-owner", str(NODE_GID[3]), "-j", "DROP"], stderr=subprocess.DEVNULL)
    for process in processes.values():
        process.kill()
        process.wait()

history = os.path.join(RUN, "history.json")
with open(history, "w") as f:
    ops.sort(key=lambda op: op["end_ms"])
    json.dump({"phases": {"faults_start_ms": KILL_AT * 1000, "faults_end_ms": HEAL_AT * 1000}, "history": {"ops": ops}, "schedule": schedule}, f)
log(f"{len(ops)} operations recorded in {history}; judging with the simulation's checker")
sys.exit(subprocess.run([FAULTLINE, "check-history", history]).returncode)

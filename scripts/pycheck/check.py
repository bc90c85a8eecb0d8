#!/usr/bin/env python3
"""A consumer that is not ours: reads coupa-kafka's topics and checks them.

It reads every table topic from the start with isolation.level=read_committed
(confluent-kafka, i.e. librdkafka, as most non-Java clients and many Connect
set-ups do), decodes each value through the schema registry the Confluent way
(magic byte 0, 4-byte big-endian schema id, GET /schemas/ids/<id>, Avro binary
decoded with fastavro), and compares it with the ground truth written by the
Go test (scripts/integration.sh runs it from integration/python_test.go):

  - the key is the id as decimal text, equal to the decoded id;
  - the record timestamp equals the decoded updated_at (timestamp-millis);
  - the headers name the source: coupa.instance (the truth's instance),
    coupa.table (the table) and coupa.updated_at (RFC 3339, the timestamp);
  - no content (id, updated_at, value) appears twice;
  - the last value of every key is the truth's latest version: same ids, no
    more and no fewer, same updated_at; a record the instance deleted ends in
    a tombstone (null value, with the instance and table headers), and no
    live one does;
  - every top-level decimal decodes to a decimal.Decimal equal to the string
    in Coupa's JSON (or is kept in `extra`), and every top-level
    timestamp-millis to the instant of Coupa's ISO 8601 text.

Usage: check.py TRUTH.json   (exit 0 and a last line "pycheck: OK ..." when
everything holds; exit 1 with "pycheck: FAIL ..." and the problems otherwise)

TRUTH.json: {"brokers": "host:port,...", "registry": "http://...", "instance": "host",
             "tables": [{"table": "invoices", "topic": "coupa.invoices",
                         "records": [{"id": 1, "updated_at_ms": 1700000000000,
                                      "json": {...Coupa's JSON...}}, ...]}]}
"""

import datetime
import decimal
import hashlib
import io
import json
import struct
import sys
import time
import urllib.request
import uuid

import confluent_kafka
import fastavro
from confluent_kafka import Consumer, KafkaError, TopicPartition

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
MAX_PROBLEMS_SHOWN = 20


class Registry:
    """Fetches writer schemas by id, as Confluent's deserializers do."""

    def __init__(self, url):
        self.url = url.rstrip("/")
        self.cache = {}

    def schema(self, schema_id):
        if schema_id not in self.cache:
            with urllib.request.urlopen(f"{self.url}/schemas/ids/{schema_id}", timeout=30) as resp:
                body = json.load(resp)
            if body.get("schemaType", "AVRO") != "AVRO":
                raise ValueError(f"schema {schema_id} is {body.get('schemaType')}, not AVRO")
            raw = json.loads(body["schema"])
            self.cache[schema_id] = (raw, fastavro.parse_schema(raw))
        return self.cache[schema_id]


def millis(dt):
    return (dt - EPOCH) // datetime.timedelta(milliseconds=1)


def logical(avro_type):
    """The logical type of a top-level field (null unions unwrapped)."""
    if isinstance(avro_type, list):
        inner = [t for t in avro_type if t != "null"]
        if len(inner) != 1:
            return None
        avro_type = inner[0]
    if isinstance(avro_type, dict):
        return avro_type.get("logicalType")
    return None


def parse_coupa_time(text):
    # Coupa renders 2025-03-01T10:00:00-07:00 (or ...Z); a bare date is midnight UTC.
    if len(text) == 10:
        text += "T00:00:00+00:00"
    dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"datetime without a zone: {text!r}")
    return dt


def consume(brokers, topic, deadline_s=120):
    """Every record of topic, read_committed, from the start to the end."""
    c = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"pycheck-{uuid.uuid4()}",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    })
    try:
        md = c.list_topics(topic, timeout=30)
        tmd = md.topics.get(topic)
        if tmd is None or tmd.error is not None:
            raise RuntimeError(f"topic {topic}: {tmd.error if tmd else 'missing'}")
        parts = sorted(tmd.partitions)
        c.assign([TopicPartition(topic, p, 0) for p in parts])  # offset 0: the log start
        pending = set(parts)
        out = []
        deadline = time.monotonic() + deadline_s
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {topic}: partitions {sorted(pending)} did not reach their end in {deadline_s}s")
            msg = c.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
                    continue
                raise RuntimeError(f"topic {topic}: {msg.error()}")
            out.append(msg)
        return out
    finally:
        c.close()


def check_headers(m, table, instance, problem, where, tombstone=False):
    """The source headers: instance, table and updated_at equal to the
    timestamp (a tombstone of a deleted record has no updated_at)."""
    headers = {k: v.decode() for k, v in (m.headers() or [])}
    _, ts = m.timestamp()
    want = {"coupa.instance": instance, "coupa.table": table}
    for k, v in want.items():
        if headers.get(k) != v:
            problem(f"{where}: header {k} = {headers.get(k)!r}, want {v!r}")
    if tombstone:
        return
    upd = headers.get("coupa.updated_at")
    if upd is None or millis(parse_coupa_time(upd)) != ts:
        problem(f"{where}: header coupa.updated_at = {upd!r}, the timestamp is {ts}")


def check_table(spec, brokers, registry, problems, instance):
    table, topic = spec["table"], spec["topic"]
    truth = {r["id"]: r for r in spec["records"]}
    # A full refresh table's records may have no updated_at: their timestamp
    # is the refresh's, so only values are compared with the truth.
    refresh = spec.get("full_refresh", False)

    def problem(text):
        problems.append(f"{table}: {text}")

    msgs = consume(brokers, topic)
    last = {}
    seen = {}
    tombstoned = set()
    for m in msgs:
        key, value = m.key(), m.value()
        where = f"partition {m.partition()} offset {m.offset()}"
        if key is None or not key.isdigit():
            problem(f"{where}: key {key!r} is not a decimal id")
            continue
        if value is None:  # a tombstone: the record was deleted in Coupa
            check_headers(m, table, instance, problem, where, tombstone=True)
            rid = int(key)
            last.pop(rid, None)
            tombstoned.add(rid)
            continue
        if len(value) < 5 or value[0] != 0:
            problem(f"{where}: value is not in the Confluent wire format: {value[:8]!r}")
            continue
        (schema_id,) = struct.unpack(">I", value[1:5])
        raw, parsed = registry.schema(schema_id)
        rec = fastavro.schemaless_reader(io.BytesIO(value[5:]), parsed)
        rid = int(key)
        if rec.get("id") != rid:
            problem(f"{where}: key {rid} but decoded id {rec.get('id')}")
        check_headers(m, table, instance, problem, where)
        ts_type, ts = m.timestamp()
        upd = rec.get("updated_at")
        if refresh and upd is None:
            pass
        elif not isinstance(upd, datetime.datetime) or millis(upd) != ts:
            problem(f"{where}: record {rid}: timestamp {ts} (type {ts_type}) but decoded updated_at {upd!r}")
        content = (rid, ts, hashlib.sha256(value[5:]).digest())
        seen[content] = seen.get(content, 0) + 1
        if seen[content] == 2:
            problem(f"record {rid} version {ts} is in the topic twice (same content)")
        last[rid] = (ts, rec, raw)

    missing = sorted(set(truth) - set(last))
    extra = sorted(set(last) - set(truth))
    false_deletes = sorted(tombstoned & set(truth) - set(last))
    if false_deletes:
        problem(f"{len(false_deletes)} live records end in a tombstone, e.g. {false_deletes[:5]}")
    if missing:
        problem(f"{len(missing)} records never published, e.g. {missing[:5]}")
    if extra:
        problem(f"{len(extra)} records in the topic that the instance does not have (deleted, no tombstone), e.g. {extra[:5]}")

    decimals = timestamps = in_extra = stale = 0
    sample = None
    for rid, want in truth.items():
        if rid not in last:
            continue
        ts, rec, raw = last[rid]
        if not refresh and ts != want["updated_at_ms"]:
            stale += 1
            if stale <= 3:
                problem(f"record {rid}: topic has updated_at {ts}, truth is {want['updated_at_ms']}")
            continue
        coupa = {k.replace("-", "_"): v for k, v in want["json"].items()}
        extras = rec.get("extra") or {}
        for field in raw["fields"]:
            name, lt = field["name"], logical(field["type"])
            if lt not in ("decimal", "timestamp-millis") or name not in coupa:
                continue
            text, got = coupa[name], rec.get(name)
            if text is None:
                if got is not None:
                    problem(f"record {rid}: {name} is null in Coupa's JSON but decodes to {got!r}")
                continue
            if got is None and any(k.replace("-", "_") == name for k in extras):
                in_extra += 1  # did not fit the declared type: kept as JSON text
                continue
            if lt == "decimal":
                want_dec = decimal.Decimal(str(text))
                if not isinstance(got, decimal.Decimal) or got != want_dec:
                    problem(f"record {rid}: {name} decodes to {got!r}, Coupa says {text!r}")
                    continue
                decimals += 1
                if sample is None and table == "invoices" and name in ("gross_total", "total_with_taxes"):
                    sample = f"invoice {rid} {name}: Coupa {text!r} == Avro {got!r}"
            else:
                want_dt = parse_coupa_time(text)
                if not isinstance(got, datetime.datetime) or got != want_dt:
                    problem(f"record {rid}: {name} decodes to {got!r}, Coupa says {text!r}")
                    continue
                timestamps += 1
    if stale:
        problem(f"{stale} records stale")
    print(f"pycheck: {table}: {len(msgs)} records read_committed from {topic}, {len(last)} ids "
          f"(truth {len(truth)}), {decimals} decimals and {timestamps} timestamps equal to Coupa's JSON, "
          f"{in_extra} kept in extra, {len(tombstoned - set(last))} tombstoned")
    if sample:
        print(f"pycheck: {sample}")
    return decimals, timestamps


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        truth = json.load(f)
    registry = Registry(truth["registry"])
    problems = []
    decimals = timestamps = 0
    for spec in truth["tables"]:
        try:
            d, t = check_table(spec, truth["brokers"], registry, problems, truth["instance"])
        except Exception as e:  # a broken topic or registry is a failure, not a crash
            problems.append(f"{spec['table']}: {type(e).__name__}: {e}")
            continue
        decimals += d
        timestamps += t
    if "invoices" in {s["table"] for s in truth["tables"]} and decimals == 0:
        problems.append("no decimal was checked: the invoices carry many")
    if problems:
        for p in problems[:MAX_PROBLEMS_SHOWN]:
            print(f"pycheck: problem: {p}")
        print(f"pycheck: FAIL: {len(problems)} problems")
        return 1
    print(f"pycheck: OK: {len(truth['tables'])} topics, {decimals} decimals and {timestamps} timestamps "
          f"checked (confluent-kafka {confluent_kafka.version()}, librdkafka {confluent_kafka.libversion()[0]}, "
          f"fastavro {fastavro.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

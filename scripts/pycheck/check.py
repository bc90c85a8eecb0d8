#!/usr/bin/env python3
"""A consumer that is not ours: reads coupa-kafka's topics and checks them.

It reads every table topic (and the line topics named in the truth) from the
start with isolation.level=read_committed (confluent-kafka, i.e. librdkafka,
as most non-Java clients and many Connect set-ups do), decodes each value
through the schema registry the Confluent way (magic byte 0, 4-byte
big-endian schema id, GET /schemas/ids/<id>, Avro binary decoded with
fastavro), and compares it with the ground truth written by the Go test
(scripts/integration.sh runs it from integration/python_test.go):

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

Schema evolution (schemas are learned from the records and registered as
new, backward-compatible versions; older records keep the id they were
written with). For each topic it fetches the latest version of the subject
<topic>-value (GET /subjects/<subject>/versions/latest) and:

  - reads every value written with an older version twice, with the writer
    schema alone and with writer = its header's, reader = the latest
    (schema resolution, as a consumer that upgraded its reader schema
    does): both reads must agree on every field the writer has, and every
    field the writer lacks must read as null (its default); the count is
    "values written with an older schema read with the latest";
  - in the last value of every key, in every record that has custom_fields
    (a table's top level, its embedded lines, a line topic's top level),
    checks the typed view `custom` (the writer's own) against the JSON text
    of custom_fields: a custom field with a typed field equals its JSON
    value (boolean, long, double, string, timestamp-millis = the instant of
    the text, date = the calendar date, a record = each identifying key of
    the object) or, when the typed value is null, the JSON value does not
    fit the learned type (a conflict, kept in custom_fields only); a typed
    field of a key that is absent or null is null; and (unless the truth
    says static_schemas) no typeable value waits untyped: no custom field
    or top-level `extra` key with a typeable value lacks a field in the
    writer schema (keys whose Avro name another field holds excepted), no
    learned integer holds a fraction, and no `extra` key that has a learned
    field holds a value that fits it;
  - at the top level of a table's last values, custom_fields holds exactly
    the truth's custom-fields (or Coupa's object is kept whole in extra).

With "expect_evolution": true in the truth, it fails unless some value was
read with a newer schema than it was written with.

Usage: check.py TRUTH.json   (exit 0 and a last line "pycheck: OK ..." when
everything holds; exit 1 with "pycheck: FAIL ..." and the problems otherwise)

TRUTH.json: {"brokers": "host:port,...", "registry": "http://...", "instance": "host",
             "expect_evolution": false, "static_schemas": false,
             "tables": [{"table": "invoices", "topic": "coupa.invoices",
                         "line_topic": "coupa.invoice_lines",   (optional)
                         "records": [{"id": 1, "updated_at_ms": 1700000000000,
                                      "json": {...Coupa's JSON...}}, ...]}]}
"""

import datetime
import decimal
import hashlib
import io
import json
import math
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import confluent_kafka
import fastavro
from confluent_kafka import Consumer, KafkaError, TopicPartition

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
EPOCH_DATE = datetime.date(1970, 1, 1)
MAX_PROBLEMS_SHOWN = 20
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
# The keys a learned custom object (a lookup value, a user) keeps as typed
# fields (schemas/custom.go, viewIdentityKeys).
IDENTITY_KEYS = ("id", "code", "email", "employee-number", "external-ref-code", "external-ref-num", "login", "name", "number")
VIEW_PROP = "coupa.view"
VIEW_OF = "custom-fields"


class Schema:
    """A registered schema: its JSON, fastavro's parse and its named types."""

    def __init__(self, schema_id, raw, version=None):
        self.id = schema_id
        self.raw = raw
        self.version = version
        # A fresh dict of named types per schema: every version of a subject
        # defines the same names, with different fields.
        self.parsed = fastavro.parse_schema(raw, named_schemas={})
        self.names = {}
        index_names(raw, "", self.names)


class Registry:
    """Fetches writer schemas by id, as Confluent's deserializers do, and the
    latest version of a subject, as a consumer's reader schema."""

    def __init__(self, url):
        self.url = url.rstrip("/")
        self.cache = {}

    def _get(self, path):
        with urllib.request.urlopen(f"{self.url}{path}", timeout=30) as resp:
            return json.load(resp)

    def schema(self, schema_id):
        if schema_id not in self.cache:
            body = self._get(f"/schemas/ids/{schema_id}")
            if body.get("schemaType", "AVRO") != "AVRO":
                raise ValueError(f"schema {schema_id} is {body.get('schemaType')}, not AVRO")
            self.cache[schema_id] = Schema(schema_id, json.loads(body["schema"]))
        return self.cache[schema_id]

    def latest(self, subject):
        """The latest version of subject, or None when it has none."""
        try:
            body = self._get(f"/subjects/{urllib.parse.quote(subject, safe='')}/versions/latest")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise
        if body.get("schemaType", "AVRO") != "AVRO":
            raise ValueError(f"{subject} latest is {body.get('schemaType')}, not AVRO")
        s = self.schema(body["id"])
        s.version = body.get("version")
        return s


def decode(buf, writer, reader=None):
    if reader is None or reader is writer:
        return fastavro.schemaless_reader(io.BytesIO(buf), writer.parsed)
    return fastavro.schemaless_reader(io.BytesIO(buf), writer.parsed, reader.parsed)


# --- Avro schema JSON: named types, field types -------------------------------

def full_name(name, namespace):
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def index_names(schema, ns, out):
    """Indexes the named types (records, enums, fixed) of a schema's JSON by
    full name."""
    if isinstance(schema, list):
        for s in schema:
            index_names(s, ns, out)
        return
    if not isinstance(schema, dict):
        return
    t = schema.get("type")
    if t in ("record", "error", "enum", "fixed"):
        full = full_name(schema["name"], schema.get("namespace", ns))
        out[full] = schema
        inner = full.rpartition(".")[0]
        for f in schema.get("fields", []):
            index_names(f["type"], inner, out)
    elif t == "array":
        index_names(schema["items"], ns, out)
    elif t == "map":
        index_names(schema["values"], ns, out)
    elif isinstance(t, (dict, list)):
        index_names(t, ns, out)


def resolve(schema, ns, names):
    """(definition, namespace) of a type: a named reference looked up."""
    while isinstance(schema, str) and schema not in PRIMITIVES:
        d = names.get(full_name(schema, ns)) or names.get(schema)
        if d is None:
            raise ValueError(f"unknown named type {schema!r}")
        schema = d
    while isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
        schema = schema["type"]
    if isinstance(schema, dict) and schema.get("type") in ("record", "error", "enum", "fixed"):
        ns = full_name(schema["name"], schema.get("namespace", ns)).rpartition(".")[0]
    return schema, ns


def optional(schema, ns, names):
    """The non-null branch of ["null", T] resolved (or the type itself)."""
    if isinstance(schema, list):
        inner = [t for t in schema if t != "null"]
        if len(inner) != 1:
            return None, ns
        schema = inner[0]
    return resolve(schema, ns, names)


def key_of(field):
    """The Coupa key of a field: coupa.key, else the name with '_' -> '-'."""
    return field.get("coupa.key") or field["name"].replace("_", "-")


def avro_name(key):
    """schemas.AvroName: the Avro field name of a Coupa key."""
    out = []
    for i, ch in enumerate(key):
        if ch == "-":
            out.append("_")
        elif ch == "?":
            out.append("_q")
        elif ch == "_" or "a" <= ch <= "z" or "A" <= ch <= "Z":
            out.append(ch)
        elif "0" <= ch <= "9":
            out.append(("_" if i == 0 else "") + ch)
        else:
            out.append(f"_x{ord(ch):x}")
    return "".join(out) or "_"


def kind_of(schema, ns, names):
    """The kind of a learned field's type: boolean, long, double, string,
    timestamp-millis, date, record, or None."""
    t, ns = optional(schema, ns, names)
    if t is None:
        return None, None, ns
    if isinstance(t, str):
        return (t if t in ("boolean", "long", "double", "string") else None), t, ns
    lt = t.get("logicalType")
    if lt == "timestamp-millis" and t.get("type") == "long":
        return "timestamp-millis", t, ns
    if lt == "date" and t.get("type") == "int":
        return "date", t, ns
    if t.get("type") == "record":
        return "record", t, ns
    if not lt and t.get("type") in ("boolean", "long", "double", "string"):
        return t["type"], t, ns
    return None, t, ns


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


# --- JSON values and what fits a learned type (schemas/values.go) ------------

class Duplicates(dict):
    """A JSON object with a key twice: fits no Avro record or map."""


def _pairs(pairs):
    d = dict(pairs)
    return Duplicates(d) if len(d) != len(pairs) else d


def load_json(text):
    """Coupa's JSON with numbers kept exact: integers as int, the others as
    decimal.Decimal; objects with a duplicate key as Duplicates."""
    return json.loads(text, parse_float=decimal.Decimal, object_pairs_hook=_pairs)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def fit_long(v):
    return is_int(v) and -(1 << 63) <= v < (1 << 63)


def fit_double(v):
    """schemas.parseDouble: a JSON number that a double holds (15 significant
    digits, or exactly), not subnormal. Returns (ok, float)."""
    if not (is_int(v) or isinstance(v, decimal.Decimal)):
        return False, None
    d = decimal.Decimal(v)
    try:
        f = float(d)
    except (OverflowError, ValueError):
        return False, None
    if math.isinf(f) or math.isnan(f):
        return False, None
    digits = d.normalize().as_tuple().digits if d != 0 else (0,)
    nonzero = d != 0
    if nonzero and (f == 0 or abs(f) < 2.2250738585072014e-308):
        return False, None
    if len(digits) <= 15:
        return True, f
    return decimal.Decimal(repr(f)) == d, f


def fit_string(v):
    if not isinstance(v, str):
        return False
    try:
        v.encode("utf-8")  # a lone surrogate does not unescape exactly
    except UnicodeEncodeError:
        return False
    return True


def _digits(s):
    return len(s) > 0 and all("0" <= c <= "9" for c in s)


def _days_in(month, year):
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(y, m, d):
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def datetime_ms(s):
    """schemas.parseDatetime: milliseconds of a datetime text with a zone
    (Z or +hh:mm) and at most millisecond precision, or None."""
    if not isinstance(s, str) or len(s) < 20 or s[4] != "-" or s[7] != "-" or s[10] != "T" or s[13] != ":" or s[16] != ":":
        return None
    parts = (s[0:4], s[5:7], s[8:10], s[11:13], s[14:16], s[17:19])
    if not all(_digits(p) for p in parts):
        return None
    year, month, day, hour, minute, sec = (int(p) for p in parts)
    if month < 1 or month > 12 or day < 1 or day > _days_in(month, year) or hour > 23 or minute > 59 or sec > 59:
        return None
    rest = s[19:]
    ms = 0
    if rest[0] == ".":
        i = 1
        while i < len(rest) and "0" <= rest[i] <= "9":
            if i <= 3:
                ms = ms * 10 + int(rest[i])
            elif rest[i] != "0":
                return None
            i += 1
        if i == 1 or i > 10:
            return None
        for _ in range(i, 4):
            ms *= 10
        rest = rest[i:]
    if rest == "Z":
        off = 0
    elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":" and _digits(rest[1:3]) and _digits(rest[4:6]):
        oh, om = int(rest[1:3]), int(rest[4:6])
        if oh > 23 or om > 59:
            return None
        off = (oh * 60 + om) * (-1 if rest[0] == "-" else 1)
    else:
        return None
    secs = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + sec - off * 60
    if secs < _days_from_civil(0, 1, 1) * 86400 or secs >= _days_from_civil(10000, 1, 1) * 86400:
        return None
    return secs * 1000 + ms


def date_days(s):
    """schemas.parseDate: days since 1970-01-01 of a YYYY-MM-DD text that
    formats back identically, or None."""
    if not isinstance(s, str) or len(s) != 10:
        return None
    try:
        d = datetime.datetime.strptime(s, "%Y-%m-%d").date()
    except ValueError:
        return None
    if d.strftime("%Y-%m-%d") != s:
        return None
    return (d - EPOCH_DATE).days


def fits(kind, v):
    """(ok, wanted typed value in the units compared) of a JSON value v for
    a learned scalar kind."""
    if kind == "boolean":
        return isinstance(v, bool), v
    if kind == "long":
        return fit_long(v), v
    if kind == "double":
        return fit_double(v)
    if kind == "string":
        return fit_string(v), v
    if kind == "timestamp-millis":
        ms = datetime_ms(v)
        return ms is not None, ms
    if kind == "date":
        days = date_days(v)
        return days is not None, days
    return False, None


def scalar_kind(v):
    """schemas.inferType of a scalar (None: not learnable)."""
    if isinstance(v, bool):
        return "boolean"
    if is_int(v) and fit_long(v):
        return "long"
    if is_int(v) or isinstance(v, decimal.Decimal):
        return "double" if fit_double(v)[0] else None
    if isinstance(v, str):
        if datetime_ms(v) is not None:
            return "timestamp-millis"
        if date_days(v) is not None:
            return "date"
        return "string"
    return None


def custom_learnable(v):
    """A custom field's value that schema evolution types: a scalar, or an
    object with an identifying key of a scalar value (a lookup, a user)."""
    if isinstance(v, dict):
        return any(scalar_kind(v.get(k)) for k in IDENTITY_KEYS)
    return scalar_kind(v) is not None


def promoted_learnable(v):
    """A key the schema lacks that schema evolution promotes: a scalar or an
    object (a record of its scalar members and an extra map)."""
    return isinstance(v, dict) or scalar_kind(v) is not None


def typed_equal(kind, want, got):
    """Does the decoded typed value got equal want (fits' units)?"""
    if kind == "boolean":
        return isinstance(got, bool) and got == want
    if kind == "long":
        return is_int(got) and got == want
    if kind == "double":
        return isinstance(got, float) and got == want
    if kind == "string":
        return isinstance(got, str) and got == want
    if kind == "timestamp-millis":
        return isinstance(got, datetime.datetime) and millis(got) == want
    if kind == "date":
        return isinstance(got, datetime.date) and not isinstance(got, datetime.datetime) and (got - EPOCH_DATE).days == want
    return False


def millis(dt):
    return (dt - EPOCH) // datetime.timedelta(milliseconds=1)


def parse_coupa_time(text):
    # Coupa renders 2025-03-01T10:00:00-07:00 (or ...Z); a bare date is midnight UTC.
    if len(text) == 10:
        text += "T00:00:00+00:00"
    dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"datetime without a zone: {text!r}")
    return dt


# --- Schema evolution checks --------------------------------------------------

class Evolution:
    """What the typed-view checks counted, and the problems they found."""

    def __init__(self, static, problem):
        self.static = static
        self.problem = problem
        self.typed = 0      # typed custom values equal to their JSON
        self.conflicts = 0  # custom values that do not fit their learned type (null in the view)
        self.untyped = 0    # typeable values that wait in custom_fields or extra
        self.views = 0      # records with custom_fields checked

    def untyped_value(self, where, text):
        self.untyped += 1
        if not self.static and self.untyped <= 3:
            self.problem(f"{where}: {text}")


def same_read(written, latest, path="value"):
    """None when latest (the value read with the latest schema) holds what
    written (read with the writer's) does, and null for what it lacks; else
    the first difference."""
    if isinstance(written, dict):
        if not isinstance(latest, dict):
            return f"{path}: {written!r} reads as {latest!r}"
        for k in written:
            if k not in latest:
                return f"{path}.{k}: the latest schema lost it"
        for k, lv in latest.items():
            if k in written:
                diff = same_read(written[k], lv, f"{path}.{k}")
                if diff:
                    return diff
            elif lv is not None:
                return f"{path}.{k}: not in the writer schema, yet reads as {lv!r} (want null, the default)"
        return None
    if isinstance(written, list):
        if not isinstance(latest, list) or len(latest) != len(written):
            return f"{path}: {len(written)} items read as {latest!r:.80}"
        for i, (w, lv) in enumerate(zip(written, latest)):
            diff = same_read(w, lv, f"{path}[{i}]")
            if diff:
                return diff
        return None
    if isinstance(written, bool) != isinstance(latest, bool) or written != latest:
        return f"{path}: {written!r} reads as {latest!r}"
    return None


def walk_records(schema, value, ns, names, visit, path):
    """Calls visit(record schema, namespace, value, path) for every record in
    value, a decoded value of schema."""
    if value is None:
        return
    if isinstance(schema, list):
        inner = [t for t in schema if t != "null"]
        if len(inner) == 1:
            walk_records(inner[0], value, ns, names, visit, path)
        return
    schema, ns = resolve(schema, ns, names)
    if not isinstance(schema, dict):
        return
    t = schema.get("type")
    if t == "record":
        visit(schema, ns, value, path)
        for f in schema["fields"]:
            walk_records(f["type"], value.get(f["name"]), ns, names, visit, f"{path}.{f['name']}")
    elif t == "array":
        for i, v in enumerate(value):
            walk_records(schema["items"], v, ns, names, visit, f"{path}[{i}]")
    elif t == "map":
        for k, v in value.items():
            walk_records(schema["values"], v, ns, names, visit, f"{path}[{k!r}]")


def check_views(writer, rec, ev, where):
    """The typed-view checks of every record with custom_fields in rec, a last
    value decoded with its writer schema."""

    def visit(rs, ns, value, path):
        fields = rs["fields"]
        by_name = {f["name"]: f for f in fields}
        if "custom_fields" not in by_name:
            return  # not evolvable: its extra keys stay
        ev.views += 1
        check_view(rs, ns, by_name, value, writer.names, ev, f"{where} {path}")
        check_extra(ns, by_name, value, writer.names, ev, f"{where} {path}")

    walk_records(writer.raw, rec, "", writer.names, visit, "value")


def check_view(rs, ns, by_name, value, names, ev, where):
    view = next((f for f in rs["fields"] if f.get(VIEW_PROP) == VIEW_OF), None)
    cf = value.get("custom_fields")
    typed = value.get(view["name"]) if view else None
    vfields, vns = [], ns
    if view is not None:
        vrec, vns = optional(view["type"], ns, names)
        if vrec is None or vrec.get("type") != "record":
            ev.problem(f"{where}: the view {view['name']} is no [\"null\", record]")
            return
        vfields = vrec["fields"]
        if cf is None and typed is not None:
            ev.problem(f"{where}: custom_fields is null, yet {view['name']} is {typed!r:.120}")
            return
        if cf is not None and not isinstance(typed, dict):
            ev.problem(f"{where}: custom_fields has {len(cf)} keys, yet {view['name']} is null")
            return
    if cf is None:
        return
    by_key = {key_of(f): f for f in vfields}
    taken = {f["name"] for f in vfields}
    for key, text in cf.items():
        try:
            jv = load_json(text)
        except ValueError as e:
            ev.problem(f"{where}: custom_fields[{key!r}] is no JSON text: {e}")
            continue
        f = by_key.get(key)
        if f is None:
            if jv is not None and custom_learnable(jv) and avro_name(key) not in taken:
                ev.untyped_value(where, f"custom field {key!r} = {text:.80} has no typed field in the writer schema")
            continue
        check_typed(f, vns, names, jv, typed.get(f["name"]), ev, f"{where}.custom.{f['name']}", text)
    for f in vfields:
        if key_of(f) not in cf and typed.get(f["name"]) is not None:
            ev.problem(f"{where}: {f['name']} is {typed[f['name']]!r}, but custom_fields has no {key_of(f)!r}")


def check_typed(f, ns, names, jv, got, ev, where, text, nested=False):
    """A typed field f of the view against the JSON value jv; counts it
    (typed or conflict) unless nested (an object's identifying field)."""
    kind, t, tns = kind_of(f["type"], ns, names)
    if jv is None:
        if got is not None:
            ev.problem(f"{where}: null in custom_fields, {got!r} typed")
        return
    if kind is None:
        ev.problem(f"{where}: a learned type this check does not know: {f['type']!r:.120}")
        return
    if kind == "record":
        if not isinstance(jv, dict) or isinstance(jv, Duplicates):
            if got is not None:
                ev.problem(f"{where}: {text:.80} is no object, yet typed {got!r:.80}")
            elif not nested:
                ev.conflicts += 1
            return
        if not isinstance(got, dict):
            ev.problem(f"{where}: the object {text:.80} is typed {got!r}")
            return
        have = set()
        for nf in t["fields"]:
            k = key_of(nf)
            have.add(k)
            check_typed(nf, tns, names, jv.get(k), got.get(nf["name"]), ev, f"{where}.{nf['name']}", json.dumps(jv.get(k), default=str), nested=True)
        for k in IDENTITY_KEYS:
            if k not in have and scalar_kind(jv.get(k)) is not None:
                ev.untyped_value(where, f"identifying key {k!r} of {text:.80} has no typed field in the writer schema")
        if not nested:
            ev.typed += 1
        return
    ok, want = fits(kind, jv)
    if ok:
        if not typed_equal(kind, want, got):
            ev.problem(f"{where} ({kind}): custom_fields has {text:.80}, typed {got!r}")
        elif not nested:
            ev.typed += 1
        return
    if got is not None:
        ev.problem(f"{where} ({kind}): {text:.80} does not fit, yet typed {got!r}")
    elif kind == "long" and fit_double(jv)[0]:
        ev.untyped_value(where, f"{text:.80} has a fraction: the learned long should have widened to double")
    elif not nested:
        ev.conflicts += 1


def check_extra(ns, by_name, value, names, ev, where):
    """No key in an evolvable record's extra waits for a field: a key with a
    learned field of its own holds a value that does not fit it, and a
    typeable key without one has an Avro name another field holds."""
    extra = value.get("extra") or {}
    by_key = {key_of(f): f for f in by_name.values()}
    for key, text in extra.items():
        try:
            jv = load_json(text)
        except ValueError as e:
            ev.problem(f"{where}: extra[{key!r}] is no JSON text: {e}")
            continue
        f = by_key.get(key)
        if f is None:
            name = avro_name(key)
            if jv is not None and promoted_learnable(jv) and name not in by_name and name != "custom":
                ev.untyped_value(where, f"extra key {key!r} = {text:.80} has no field in the writer schema")
            continue
        if not f.get("coupa.learned") or jv is None:
            continue  # a generated field: the value did not fit its declared type
        kind, _, _ = kind_of(f["type"], ns, names)
        if kind == "record":
            fit = isinstance(jv, dict) and not isinstance(jv, Duplicates)
        else:
            fit = fits(kind, jv)[0]
        if fit:
            ev.problem(f"{where}: extra key {key!r} = {text:.80} fits its learned field {f['name']} ({kind}), yet waits in extra")
        elif kind == "long" and fit_double(jv)[0]:
            ev.untyped_value(where, f"extra key {key!r} = {text:.80} has a fraction: the learned long {f['name']} should have widened")


# --- Reading topics -------------------------------------------------------------

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


class Reader:
    """Decodes a topic's values with their writer schemas and, for values
    written with an older version, with the latest as the reader schema."""

    def __init__(self, registry, topic, problem):
        self.registry = registry
        self.problem = problem
        self.latest = registry.latest(f"{topic}-value")
        self.older = 0        # values written with an older version, read with the latest
        self.unreadable = 0

    def read(self, value, where):
        """(writer schema, value read with it), or None when it is not in the
        Confluent wire format."""
        if len(value) < 5 or value[0] != 0:
            self.problem(f"{where}: value is not in the Confluent wire format: {value[:8]!r}")
            return None
        (schema_id,) = struct.unpack(">I", value[1:5])
        writer = self.registry.schema(schema_id)
        rec = decode(value[5:], writer)
        if self.latest is None:
            self.problem(f"{where}: schema id {schema_id}, but the subject has no latest version")
        elif writer.id != self.latest.id:
            self.older += 1
            try:
                diff = same_read(rec, decode(value[5:], writer, self.latest))
            except Exception as e:  # schema resolution failed: the latest cannot read it
                diff = f"{type(e).__name__}: {e}"
            if diff:
                self.unreadable += 1
                if self.unreadable <= 3:
                    self.problem(f"{where}: written with schema id {writer.id}, reads differently with the latest (id {self.latest.id}): {diff:.300}")
        return writer, rec

    def summary(self):
        if self.latest is None:
            return "no registered schema"
        return f"{self.older} values written with an older schema read with the latest (version {self.latest.version}, id {self.latest.id})"


def check_table(spec, brokers, registry, problems, instance, static):
    table, topic = spec["table"], spec["topic"]
    truth = {r["id"]: r for r in spec["records"]}
    # A full refresh table's records may have no updated_at: their timestamp
    # is the refresh's, so only values are compared with the truth.
    refresh = spec.get("full_refresh", False)

    def problem(text):
        problems.append(f"{table}: {text}")

    reader = Reader(registry, topic, problem)
    ev = Evolution(static, problem)
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
        got = reader.read(value, where)
        if got is None:
            continue
        writer, rec = got
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
        last[rid] = (ts, rec, writer, where)

    missing = sorted(set(truth) - set(last))
    extra = sorted(set(last) - set(truth))
    false_deletes = sorted(tombstoned & set(truth) - set(last))
    if false_deletes:
        problem(f"{len(false_deletes)} live records end in a tombstone, e.g. {false_deletes[:5]}")
    if missing:
        problem(f"{len(missing)} records never published, e.g. {missing[:5]}")
    if extra:
        problem(f"{len(extra)} records in the topic that the instance does not have (deleted, no tombstone), e.g. {extra[:5]}")

    for rid, (ts, rec, writer, where) in last.items():
        check_views(writer, rec, ev, f"record {rid} ({where}, schema id {writer.id})")

    decimals = timestamps = in_extra = stale = cf_compared = 0
    sample = None
    for rid, want in truth.items():
        if rid not in last:
            continue
        ts, rec, writer, _ = last[rid]
        raw = writer.raw
        if not refresh and ts != want["updated_at_ms"]:
            stale += 1
            if stale <= 3:
                problem(f"record {rid}: topic has updated_at {ts}, truth is {want['updated_at_ms']}")
            continue
        coupa = {k.replace("-", "_"): v for k, v in want["json"].items()}
        extras = rec.get("extra") or {}
        if check_custom_fields(rid, want["json"], rec, problem):
            cf_compared += 1
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
    if ev.untyped and not static:
        problem(f"{ev.untyped} typeable values wait untyped in custom_fields or extra of the last values")
    if reader.unreadable:
        problem(f"{reader.unreadable} of {reader.older} values written with an older schema read differently with the latest")
    print(f"pycheck: {table}: {len(msgs)} records read_committed from {topic}, {len(last)} ids "
          f"(truth {len(truth)}), {decimals} decimals and {timestamps} timestamps equal to Coupa's JSON, "
          f"{in_extra} kept in extra, {len(tombstoned - set(last))} tombstoned, "
          f"{ev.typed} typed custom values equal to custom_fields ({ev.conflicts} conflicts, {ev.untyped} untyped), "
          f"{reader.summary()}")
    if sample:
        print(f"pycheck: {sample}")
    return {"decimals": decimals, "timestamps": timestamps, "typed": ev.typed, "older": reader.older}


def check_custom_fields(rid, coupa_json, rec, problem):
    """custom_fields (JSON text per key) holds exactly Coupa's custom-fields
    object, or Coupa's object is kept whole in extra. Reports whether a map
    was compared."""
    want = coupa_json.get("custom-fields")
    got = rec.get("custom_fields")
    if not isinstance(want, dict):
        if got:
            problem(f"record {rid}: Coupa's custom-fields is {want!r:.80}, custom_fields has {len(got)} keys")
        return False
    if got is None:
        if want and "custom-fields" not in (rec.get("extra") or {}):
            problem(f"record {rid}: Coupa has {len(want)} custom fields, custom_fields is null and extra lacks them")
        return False
    got_values = {}
    for k, text in got.items():
        try:
            got_values[k] = json.loads(text, parse_float=decimal.Decimal)
        except ValueError:
            got_values[k] = text
    if got_values != want:
        diff = sorted(k for k in set(want) | set(got_values) if want.get(k, "<absent>") != got_values.get(k, "<absent>"))
        problem(f"record {rid}: custom_fields differs from Coupa's custom-fields at {diff[:5]}")
        return False
    return True


def check_lines(table, topic, brokers, registry, problems, static):
    """A line topic: values read with the latest schema as written, and the
    typed views of the last value of every line."""

    def problem(text):
        problems.append(f"{table} lines ({topic}): {text}")

    reader = Reader(registry, topic, problem)
    ev = Evolution(static, problem)
    msgs = consume(brokers, topic)
    last = {}
    for m in msgs:
        key, value = m.key(), m.value()
        where = f"partition {m.partition()} offset {m.offset()}"
        if value is None:
            last.pop(key, None)
            continue
        got = reader.read(value, where)
        if got is not None:
            last[key] = (got, where)
    for key, ((writer, rec), where) in last.items():
        check_views(writer, rec, ev, f"line {key!r} ({where}, schema id {writer.id})")
    if ev.untyped and not static:
        problem(f"{ev.untyped} typeable values wait untyped in custom_fields or extra of the last values")
    if reader.unreadable:
        problem(f"{reader.unreadable} of {reader.older} values written with an older schema read differently with the latest")
    print(f"pycheck: lines of {table}: {len(msgs)} records read_committed from {topic}, {len(last)} live keys, "
          f"{ev.typed} typed custom values equal to custom_fields ({ev.conflicts} conflicts, {ev.untyped} untyped), "
          f"{reader.summary()}")
    return {"typed": ev.typed, "older": reader.older}


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        truth = json.load(f, parse_float=decimal.Decimal)
    registry = Registry(truth["registry"])
    static = bool(truth.get("static_schemas", False))
    problems = []
    totals = {"decimals": 0, "timestamps": 0, "typed": 0, "older": 0}
    topics = 0
    for spec in truth["tables"]:
        checks = [lambda: check_table(spec, truth["brokers"], registry, problems, truth["instance"], static)]
        if spec.get("line_topic"):
            checks.append(lambda: check_lines(spec["table"], spec["line_topic"], truth["brokers"], registry, problems, static))
        for check in checks:
            topics += 1
            try:
                counts = check()
            except Exception as e:  # a broken topic or registry is a failure, not a crash
                problems.append(f"{spec['table']}: {type(e).__name__}: {e}")
                continue
            for k, v in counts.items():
                totals[k] += v
    if "invoices" in {s["table"] for s in truth["tables"]} and totals["decimals"] == 0:
        problems.append("no decimal was checked: the invoices carry many")
    if not static and totals["typed"] == 0:
        problems.append("no typed custom value was checked: every simulated table has custom fields")
    if truth.get("expect_evolution") and totals["older"] == 0:
        problems.append("no value written with an older schema version was read with the latest: the schemas did not evolve")
    if problems:
        for p in problems[:MAX_PROBLEMS_SHOWN]:
            print(f"pycheck: problem: {p}")
        print(f"pycheck: FAIL: {len(problems)} problems")
        return 1
    print(f"pycheck: OK: {topics} topics, {totals['decimals']} decimals and {totals['timestamps']} timestamps "
          f"checked, {totals['typed']} typed custom values checked, {totals['older']} values read with a newer "
          f"schema than they were written with (confluent-kafka {confluent_kafka.version()}, "
          f"librdkafka {confluent_kafka.libversion()[0]}, fastavro {fastavro.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

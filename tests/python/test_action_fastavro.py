#!/usr/bin/env python3
"""test_action_fastavro.py — a non-C Avro client reads nudge's actions.

Usage: test_action_fastavro.py ACTION.avro ACTION.json SCHEMA.avsc

ACTION.avro is one action as nudge encodes it (Confluent frame + Avro body),
ACTION.json the same action from nudge's JSON-lines writer. fastavro decodes
the Avro with schemas/action.avsc; every field must equal the JSON line's
(enums are symbol names, timestamp-millis fields compared as epoch ms).
"""
import datetime
import io
import json
import struct
import sys

import fastavro


def millis(v):
    if isinstance(v, datetime.datetime):
        return int(v.timestamp() * 1000)
    return v


def main():
    avro_path, json_path, schema_path = sys.argv[1:4]
    raw = open(avro_path, "rb").read()
    want = json.loads(open(json_path).read())
    schema = fastavro.parse_schema(json.load(open(schema_path)))
    assert raw[0] == 0, "magic byte"
    (schema_id,) = struct.unpack(">I", raw[1:5])
    buf = io.BytesIO(raw[5:])
    got = fastavro.schemaless_reader(buf, schema)
    assert buf.read() == b"", "fastavro left bytes unread"
    for k in ("created_at", "emitted_at", "expires_at"):
        got[k] = millis(got[k])
    assert set(got) == set(want), (sorted(got), sorted(want))
    for k in want:
        assert got[k] == want[k], f"{k}: fastavro {got[k]!r} != json {want[k]!r}"
    print(f"fastavro: action (schema id {schema_id}, {len(raw)} bytes) "
          f"matches the JSON line in all {len(want)} fields")


if __name__ == "__main__":
    main()

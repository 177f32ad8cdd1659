#!/usr/bin/env python3
"""gen_corpus.py — writes the seed corpus of the serde fuzz targets.

Seeds are valid records of every local schema (ids 1-4 as fuzz_avro.c
registers them) with varied union branches, plus JSON records. Pure Python,
no Avro library: a small encoder driven by the .avsc files. Run from
anywhere; rewrites tests/fuzz/corpus/{avro,json}/seed-*. The container-file
seeds of fuzz_ocf (corpus/ocf/) come from our own writer instead:
  ND_FUZZ_OCF_SEEDS=tests/fuzz/corpus/ocf <build>/tests/fuzz/fuzz_ocf -runs=0
"""
import json, os, random

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
ids = {"clickstream": 1, "cart": 2, "purchase": 3, "catalog": 4}


def zz(n):
    u = (n << 1) ^ (n >> 63)
    out = bytearray()
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


def enc(schema, names, rnd, depth=0):
    if isinstance(schema, str):
        if schema in names:
            return enc(names[schema], names, rnd, depth)
        if schema == "null":
            return b""
        if schema == "boolean":
            return bytes([rnd.randint(0, 1)])
        if schema in ("int", "long"):
            return zz(rnd.choice([0, 1, -1, 42, 1700000000000, -(2**31)]))
        if schema in ("string", "bytes"):
            s = rnd.choice([b"", b"x", b"SKU-1", b"c\xc3\xa9" * 5])
            return zz(len(s)) + s
        raise ValueError(schema)
    if isinstance(schema, list):
        i = rnd.randrange(len(schema))
        return zz(i) + enc(schema[i], names, rnd, depth)
    t = schema["type"]
    if t == "record":
        names[schema["name"]] = schema
        return b"".join(enc(f["type"], names, rnd, depth + 1) for f in schema["fields"])
    if t == "enum":
        names[schema["name"]] = schema
        return zz(rnd.randrange(len(schema["symbols"])))
    if t == "array":
        n = rnd.choice([0, 1, 3])
        body = b"".join(enc(schema["items"], names, rnd, depth + 1) for _ in range(n))
        return (zz(n) + body if n else b"") + zz(0)
    return enc(t, names, rnd, depth)


def main():
    rnd = random.Random(7)
    for d in ("avro", "json"):
        for f in os.listdir(os.path.join(here, "corpus", d)):
            if f.startswith("seed-"):
                os.remove(os.path.join(here, "corpus", d, f))
    for name, sid in ids.items():
        with open(os.path.join(root, "schemas", name + ".avsc")) as f:
            schema = json.load(f)
        for k in range(6):
            body = enc(schema, {}, rnd)
            rec = b"\0" + sid.to_bytes(4, "big") + body
            with open(os.path.join(here, "corpus", "avro", f"seed-{name}-{k}"), "wb") as f:
                f.write(rec)
    jsons = [
        {"event_id": "e1", "type": "product_added", "customer_id": "c1",
         "timestamp": 1700000000000, "channel": "web", "device_type": "mobile",
         "cart_id": "k1", "quantity": 2,
         "product": {"sku": "S1", "category": "shoes", "price_cents": 4999, "currency": "EUR"}},
        {"event_id": "e2", "type": "cart_viewed", "anonymous_id": "a1",
         "timestamp": 1, "products": [{"sku": "S1", "quantity": 1}, {"sku": "S2", "price_cents": 5}]},
        {"event_id": "e3", "type": "order_completed", "customer_id": "c\u00e9",
         "timestamp": 2, "order_id": "o1", "value_cents": 100, "currency": "EUR",
         "cart_id": None, "products": []},
        {"event_id": "e4", "type": "message_clicked", "customer_id": "c1",
         "timestamp": 3, "campaign_id": "camp", "action_id": None},
        {"sku": "S1", "name": "Boot", "in_stock": False, "complements": ["S2", "S3"]},
    ]
    for k, j in enumerate(jsons):
        with open(os.path.join(here, "corpus", "json", f"seed-{k}"), "w") as f:
            json.dump(j, f)


if __name__ == "__main__":
    main()

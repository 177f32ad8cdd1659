#!/usr/bin/env python3
"""gen.py — seeded adversarial traces for the differential test.

    gen.py --seed N --out DIR [--events N]

Writes DIR/config.yaml, DIR/events.jsonl, DIR/catalog.jsonl and
DIR/end_time (one integer, ms). Deterministic per seed. A trace has a
handful of customers (some anonymous-only), several devices and channels,
reused, null and empty-string cart ids, events late by seconds to hours,
timestamps chosen to tie with due times and with D + bound (W == D), late
views inside finished sessions, orders between late mutations, refunds and
cancellations, a few dead-letter records, and every trigger type configured
twice with different, short parameters.
"""
import argparse
import json
import os
import random

S, M, H = 1000, 60000, 3600000
CHANNELS = ["web", "app", "email", "sms", "push", "whatsapp", "store", "other"]


def gen_config(r):
    bound = r.choice([0, 1 * S, 5 * S, 5 * S, 30 * S])
    trig = [
        dict(name="cart_a", type="cart_abandonment",
             delays=[r.choice([10 * M, 30 * M]), r.choice([40 * M, 2 * H])],
             min_inactivity=r.choice([0, 5 * M, 10 * M])),
        dict(name="cart_b", type="cart_abandonment",
             delays=[r.choice([20 * M, 30 * M]), 60 * M, r.choice([2 * H, 3 * H])],
             expires_after=r.choice([0, 2 * H])),
        dict(name="browse_a", type="browse_abandonment", min_views=1,
             delay=r.choice([10 * M, 20 * M]), max_items=2,
             cooldown=r.choice([2 * H, 6 * H]),
             session_gap=r.choice([10 * M, 30 * M])),
        dict(name="browse_b", type="browse_abandonment", min_views=2,
             delay=r.choice([15 * M, 40 * M]), max_items=3,
             cooldown=r.choice([0, 1 * H]), expires_after=0),
        dict(name="upsell_a", type="post_purchase_upsell",
             delay=r.choice([30 * M, 1 * H]), max_items=2),
        dict(name="upsell_b", type="post_purchase_upsell",
             delay=r.choice([2 * H, 3 * H])),
        dict(name="switch_a", type="channel_switch"),
        dict(name="switch_b", type="channel_switch",
             channels=["web", "app", "email"],
             switch_window=r.choice([5 * M, 60 * M]),
             grace=r.choice([2 * M, 20 * M])),
    ]
    ttl = r.choice([None, None, None, 90 * M])
    return bound, ttl, trig


def fmt_ms(v):
    return "%dms" % v if v % 1000 else "%ds" % (v // 1000)


def write_config(path, bound, ttl, trig):
    out = ["input:", "  format: json", "time:",
           "  max_out_of_orderness: %s" % fmt_ms(bound)]
    if ttl is not None:
        out += ["state:", "  ttl: %s" % fmt_ms(ttl)]
    out.append("triggers:")
    for t in trig:
        out.append("  - name: %s" % t["name"])
        out.append("    type: %s" % t["type"])
        for k, v in t.items():
            if k in ("name", "type"):
                continue
            if isinstance(v, list):
                v = "[%s]" % ", ".join(fmt_ms(x) if isinstance(x, int) else x
                                       for x in v)
            elif k not in ("min_views", "max_items"):
                v = fmt_ms(v)
            out.append("    %s: %s" % (k, v))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def gen_catalog(r):
    skus = ["SKU-%d" % i for i in range(8)]
    cats = ["shoes", "bags", "toys", None]
    cat = []
    for i, s in enumerate(skus):
        comp = r.sample([x for x in skus + ["SKU-GHOST"] if x != s],
                        r.randint(0, 3))
        cat.append({"sku": s, "name": "item %d" % i,
                    "category": cats[i % len(cats)],
                    "price_cents": None if i == 7 else 500 + 250 * i,
                    "currency": "EUR", "in_stock": r.random() > 0.2,
                    "complements": comp})
    return cat


def gen_events(r, seed, n, bound, trig, catalog):
    t0 = 1717200000000 + seed * 7919
    custs = []
    for i in range(r.randint(2, 5)):
        known = r.random() < 0.6
        cid = ("c%d-%d" % (seed, i)) if known else None
        aid = None if known else "a%d-%d" % (seed, i)
        devs = ["d%d-%d-%d" % (seed, i, j) for j in range(r.randint(1, 3))]
        custs.append({"cid": cid, "aid": aid, "devs": devs + [None],
                      "carts": ["k%d-%d-%d" % (seed, i, j) for j in range(2)]
                      + [None, ""], "orders": [], "times": []})
    delays = set()
    for t in trig:
        for k in ("delays",):
            delays.update(t.get(k, []))
        for k in ("delay", "grace", "min_inactivity", "session_gap",
                  "switch_window"):
            if t.get(k):
                delays.add(t[k])
    delays = sorted(delays)
    prod_by = {p["sku"]: p for p in catalog}
    skus = list(prod_by) + ["SKU-GHOST"]
    clock = t0
    events = []
    types = (["page_viewed"] * 4 + ["product_viewed"] * 8 +
             ["products_searched", "app_opened", "message_clicked"] +
             ["product_added"] * 6 + ["product_removed"] * 2 +
             ["cart_viewed"] * 3 + ["checkout_started"] * 2 +
             ["order_completed"] * 2 + ["order_refunded", "order_cancelled"])
    for i in range(n):
        c = r.choice(custs)
        roll = r.random()
        clock += r.choice([0, 1, 500, 30 * S, 2 * M, 6 * M, 11 * M, 25 * M])
        ts = clock
        if roll < 0.15 and c["times"]:
            # a tie: a due time of an earlier event, or D + bound (W == D)
            base = r.choice(c["times"])
            ts = base + r.choice(delays) + r.choice([0, 0, bound, bound + 1,
                                                     -1])
            clock = max(clock, ts)
        elif roll < 0.3:
            # late: by a few ms beyond the bound up to hours
            ts = clock - r.choice([bound + 1, bound + 1000, 2 * M, 20 * M,
                                   2 * H, 5 * H])
        typ = r.choice(types)
        sku = r.choice(skus)
        p = prod_by.get(sku, {"category": "ghost", "price_cents": 99})
        ch = r.choice(["web", "web", "app", "app", "store", "email", "sms",
                       "other"])
        ev = {"event_id": "e%d-%d" % (seed, i), "type": typ,
              "customer_id": c["cid"], "anonymous_id": c["aid"],
              "timestamp": ts, "channel": ch,
              "device_id": r.choice(c["devs"] + ([""] if r.random() < 0.05
                                                 else [])),
              "device_type": "mobile", "session_id": None}
        if r.random() < 0.05 and c["cid"]:
            ev["customer_id"] = ""       # empty-string id: falls back / DLQ
        product = {"sku": sku, "category": p["category"],
                   "price_cents": p["price_cents"], "currency": "EUR"}
        lines = [{"sku": s, "category": prod_by.get(s, {}).get("category"),
                  "quantity": r.randint(1, 3),
                  "price_cents": prod_by.get(s, {}).get("price_cents")}
                 for s in r.sample(skus, r.randint(0, 3))]
        if typ in ("page_viewed", "products_searched", "app_opened",
                   "message_clicked"):
            ev["product"] = None
            if typ == "message_clicked" and r.random() < 0.9:
                ev.update(campaign_id="camp-1", action_id=None)
        elif typ == "product_viewed":
            ev["product"] = product
        elif typ in ("product_added", "product_removed"):
            ev.update(cart_id=r.choice(c["carts"]), product=product,
                      quantity=r.choice([None, 1, 1, 2]), products=None)
        elif typ in ("cart_viewed", "checkout_started"):
            ev.update(cart_id=r.choice(c["carts"]), product=None,
                      quantity=None,
                      products=r.choice([None, lines, lines, []]))
            if typ == "checkout_started":
                ev["checkout_id"] = None
        else:
            if typ == "order_completed" or not c["orders"]:
                oid = r.choice(c["orders"]) if c["orders"] and \
                    r.random() < 0.2 else "o%d-%d" % (seed, i)
                if typ == "order_completed":
                    c["orders"].append(oid)
            else:
                oid = r.choice(c["orders"])
            ev.update(order_id=oid, value_cents=1000, currency="EUR",
                      cart_id=r.choice(c["carts"]), checkout_id=None,
                      products=lines if typ == "order_completed" else None)
        c["times"].append(ts)
        events.append(json.dumps(ev, separators=(",", ":")))
        if r.random() < 0.1 and typ in ("order_completed", "page_viewed",
                                        "app_opened", "product_viewed"):
            # a twin at the same timestamp: two orders, or two B events on
            # other devices, due at the same D — they fire in the byte
            # order of their reference (§5), not in processing order
            tw = dict(ev, event_id="e%d-%dt" % (seed, i))
            if typ == "order_completed":
                tw["order_id"] = r.choice(["n", "p"]) + ev["order_id"]
                c["orders"].append(tw["order_id"])
            else:
                tw["device_id"] = r.choice(c["devs"])
                tw["channel"] = r.choice(["web", "app", "store"])
            events.append(json.dumps(tw, separators=(",", ":")))
        if r.random() < 0.02:
            events.append(r.choice([
                '{"event_id":"bad-%d","type":"page_viewed"}' % i,
                '{"event_id":"bad-%d","type":"page_viewed","customer_id":null,'
                '"anonymous_id":null,"timestamp":%d,"channel":"web"}' % (
                    i, clock + 10 * H),
                'not json %d' % i]))
    return events, clock


def generate(seed, out, n=None):
    r = random.Random(seed)
    bound, ttl, trig = gen_config(r)
    catalog = gen_catalog(r)
    n = n or r.randint(40, 160)
    events, clock = gen_events(r, seed, n, bound, trig, catalog)
    end = clock + r.choice([0, 30 * M, 4 * H, 8 * H])
    os.makedirs(out, exist_ok=True)
    write_config(os.path.join(out, "config.yaml"), bound, ttl, trig)
    with open(os.path.join(out, "events.jsonl"), "w") as f:
        f.write("\n".join(events) + "\n")
    with open(os.path.join(out, "catalog.jsonl"), "w") as f:
        for p in catalog:
            f.write(json.dumps(p, separators=(",", ":")) + "\n")
    with open(os.path.join(out, "end_time"), "w") as f:
        f.write("%d\n" % end)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--events", type=int)
    a = ap.parse_args()
    generate(a.seed, a.out, a.events)


if __name__ == "__main__":
    main()

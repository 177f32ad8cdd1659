#!/usr/bin/env python3
"""model.py — reference model of TRIGGERS.md §2-§5 for replay.

Written from the contract text alone (not from the engine's code), as
literally as possible: full history, no approximations, slow is fine.

    model.py -c CONFIG --input EVENTS.jsonl [--catalog CATALOG.jsonl]
             [--end-time MS] [--output FILE|-]

Writes one JSON action per line with the fields of `nudge replay`
(docs/action-contract.md). `emitted_at` is set to `created_at` (replay runs on
event time only).

Structure (so that later sections of the contract extend it):
  * Config / parse_config: the YAML subset and the trigger list.
  * parse_event: §1 decoding and the dead-letter rules (None = dead letter).
  * Runtime: §2 time, watermark and the firing loop, §5 "Time and order",
    the state.ttl rule; knows nothing about any trigger type.
  * Trigger: the interface every trigger type implements (one class per type,
    registered in TRIGGER_TYPES); a trigger keeps per-customer state and
    exposes its pending timers as (due, key, reference, handle).
"""
import argparse
import json
import os
import re
import struct
import sys

try:
    import xxhash  # PyPI package; tests/diff/run.sh installs it in a venv
except ImportError:  # pragma: no cover
    xxhash = None

# Rules that can be switched off to group discrepancies (diagnosis only):
# MODEL_DISABLE=before_last_order,cs_history_survives_order
DISABLED = set(os.environ.get("MODEL_DISABLE", "").split(","))
# Known deviations of the engine from the contract, emulated on request
# (MODEL_KNOWN=name,...) so that a differential run can look past them; each
# is listed, with its reason, in tests/diff/README.md:
#   activity_before_cart  the cart triggers know a customer's activity only
#                         from the first event that opens a cart (a
#                         mutation, or a cart event with a cart_id) or
#                         orders on: events before it are not remembered
KNOWN = set(os.environ.get("MODEL_KNOWN", "").split(","))

CHANNELS = ["web", "app", "email", "sms", "push", "whatsapp", "store", "other"]
DEVICE_TYPES = ["desktop", "mobile", "tablet", "tv", "kiosk", "unknown"]
CLICK_TYPES = ["page_viewed", "product_viewed", "products_searched",
               "app_opened", "message_clicked"]
CART_TYPES = ["product_added", "product_removed", "cart_viewed",
              "checkout_started"]
PURCHASE_TYPES = ["order_completed", "order_refunded", "order_cancelled"]
EVENT_TYPES = CLICK_TYPES + CART_TYPES + PURCHASE_TYPES

# ---------------------------------------------------------------- config

UNITS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}


def duration(v):
    """A duration: integer milliseconds or a number with a unit."""
    if isinstance(v, bool):
        raise ValueError("bad duration %r" % v)
    if isinstance(v, int):
        return v
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?", str(v).strip())
    if not m:
        raise ValueError("bad duration %r" % v)
    num, unit = m.group(1), m.group(2) or "ms"
    if "." in num:
        return int(round(float(num) * UNITS[unit]))
    return int(num) * UNITS[unit]


def _scalar(s):
    s = s.strip()
    if s.startswith("[") and s.endswith("]"):
        inner = s[1:-1].strip()
        return [] if not inner else [_scalar(x) for x in inner.split(",")]
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return s[1:-1]
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    if s in ("true", "yes", "on"):
        return True
    if s in ("false", "no", "off"):
        return False
    if s in ("null", "~", ""):
        return None
    return s


def parse_yaml(text):
    """A tiny YAML subset: block mappings, block lists of mappings or
    scalars, flow lists of scalars, comments. Enough for the configurations
    gen.py writes and the examples of TRIGGERS.md §3."""
    lines = []
    for raw in text.splitlines():
        line = re.sub(r"\s+#.*$", "", raw)
        if line.strip().startswith("#") or not line.strip():
            continue
        lines.append((len(line) - len(line.lstrip(" ")), line.strip()))
    pos = 0

    def block(indent):
        nonlocal pos
        if pos >= len(lines):
            return None
        if lines[pos][1].startswith("- ") or lines[pos][1] == "-":
            out = []
            while pos < len(lines) and lines[pos][0] == indent and \
                    (lines[pos][1].startswith("- ") or lines[pos][1] == "-"):
                ind, text_ = lines[pos]
                rest = text_[1:].strip()
                if ":" in rest and not rest.startswith("["):
                    # a mapping item: re-read the rest at its column
                    lines[pos] = (ind + 2, rest)
                    out.append(block(ind + 2))
                else:
                    pos += 1
                    out.append(_scalar(rest))
            return out
        out = {}
        while pos < len(lines) and lines[pos][0] == indent and \
                not lines[pos][1].startswith("- "):
            _, text_ = lines[pos]
            k, _, v = text_.partition(":")
            k, v = k.strip(), v.strip()
            pos += 1
            if v == "":
                if pos < len(lines) and (lines[pos][0] > indent or
                                         lines[pos][1].startswith("- ")):
                    val = block(lines[pos][0])
                else:
                    val = None
            else:
                val = _scalar(v)
            # dotted keys are nesting
            parts = k.split(".")
            d = out
            for p in parts[:-1]:
                d = d.setdefault(p, {})
            d[parts[-1]] = val
        return out

    return block(lines[0][0]) if lines else {}


TRIGGER_DEFAULTS = {
    "cart_abandonment": {"delays": ["1h", "24h"], "min_inactivity": "10m",
                         "expires_after": "12h"},
    "browse_abandonment": {"session_gap": "30m", "delay": "1h",
                           "min_views": 2, "max_items": 3, "cooldown": "24h",
                           "expires_after": "12h"},
    "post_purchase_upsell": {"delay": "3d", "max_items": 3,
                             "expires_after": "1d"},
    "channel_switch": {"channels": ["web", "app", "store"],
                       "switch_window": "30m", "grace": "10m",
                       "expires_after": "1h"},
}
DURATION_KEYS = {"min_inactivity", "expires_after", "session_gap", "delay",
                 "cooldown", "switch_window", "grace"}


class Config:
    def __init__(self, tree):
        time_ = tree.get("time") or {}
        state = tree.get("state") or {}
        self.bound = duration(time_.get("max_out_of_orderness", "5s"))
        self.ttl = duration(state.get("ttl", "30d"))
        self.triggers = []
        for t in tree.get("triggers") or []:
            typ = t["type"]
            if typ not in TRIGGER_DEFAULTS:
                raise ValueError("unknown trigger type %s" % typ)
            p = dict(TRIGGER_DEFAULTS[typ])
            p.update({k: v for k, v in t.items() if k not in ("name", "type")})
            for k in list(p):
                if k in DURATION_KEYS:
                    p[k] = duration(p[k])
            if typ == "cart_abandonment":
                p["delays"] = [duration(x) for x in p["delays"]]
            self.triggers.append((t["name"], typ, p))


def load_config(path):
    with open(path) as f:
        return Config(parse_yaml(f.read()))


# ---------------------------------------------------------------- events


def _id(v):
    """§5: empty-string ids count as null."""
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise ValueError("id not a string")
    return v


class Event:
    """A decoded event; `seq` is its position in processing order."""
    __slots__ = ("seq", "event_id", "type", "customer_id", "anonymous_id",
                 "key", "key_is_customer", "ts", "channel", "device_id",
                 "cart_id", "product", "quantity", "products", "order_id",
                 "value_cents", "currency", "raw")


def parse_event(line, seq):
    """Decodes one JSON line; returns None for a record that §1 sends to the
    dead-letter topic (undecodable, a required field missing, no id)."""
    try:
        o = json.loads(line)
    except ValueError:
        return None
    if not isinstance(o, dict):
        return None
    try:
        e = Event()
        e.seq = seq
        e.raw = o
        e.event_id = o["event_id"]
        e.type = o["type"]
        if not isinstance(e.event_id, str) or e.type not in EVENT_TYPES:
            return None
        ts = o["timestamp"]
        if isinstance(ts, bool) or not isinstance(ts, int):
            return None
        e.ts = ts
        e.customer_id = _id(o.get("customer_id"))
        e.anonymous_id = _id(o.get("anonymous_id"))
        if e.customer_id is None and e.anonymous_id is None:
            return None
        e.key = e.customer_id if e.customer_id is not None else e.anonymous_id
        e.key_is_customer = e.customer_id is not None
        ch = o.get("channel", "other")
        if ch is None:
            ch = "other"
        if ch not in CHANNELS:
            return None
        e.channel = ch
        e.device_id = _id(o.get("device_id"))
        e.cart_id = _id(o.get("cart_id")) if e.type in CART_TYPES + \
            PURCHASE_TYPES else None
        e.product = o.get("product")
        q = o.get("quantity")
        e.quantity = 1 if q is None else q
        e.products = o.get("products")
        if e.type in PURCHASE_TYPES:
            if not isinstance(o.get("order_id"), str):
                return None
            e.order_id = o["order_id"]
        else:
            e.order_id = None
        if e.type == "message_clicked" and \
                not isinstance(o.get("campaign_id"), str):
            return None               # campaign_id is required (§1)
        e.value_cents = o.get("value_cents")
        e.currency = o.get("currency")
        return e
    except (KeyError, ValueError, TypeError):
        return None


# ---------------------------------------------------------------- output


def action_id(*parts):
    """§4: XXH3-128, seed 0, canonical big-endian hex, over the parts each
    encoded as its UTF-8 length (4 bytes little-endian) and its bytes."""
    buf = b""
    for p in parts:
        b = str(p).encode("utf-8")
        buf += struct.pack("<I", len(b)) + b
    return xxhash.xxh3_128(buf, seed=0).hexdigest()


def make_action(trig, key, key_is_customer, D, **fields):
    exp = trig.p["expires_after"]
    a = {
        "action_id": None,
        "trigger": trig.TYPE,
        "trigger_name": trig.name,
        "customer_id": key if key_is_customer else None,
        "anonymous_id": None if key_is_customer else key,
        "channel": None,
        "device_id": None,
        "stage": 0,
        "created_at": D,
        "emitted_at": D,
        "expires_at": D + exp if exp else None,
        "cart_id": None,
        "order_id": None,
        "items": [],
        "value_cents": None,
        "currency": None,
        "recommended_skus": [],
        "from_channel": None,
        "from_device_id": None,
        "source_event_ids": [],
        "gap_ms": None,
    }
    a.update(fields)
    return a


# ---------------------------------------------------------------- triggers


class Trigger:
    """Interface of a trigger type. Per-customer state lives in
    self.state[key]; the runtime never looks inside it."""
    TYPE = None
    # The event types the type's rules read (§3, §5): an event of one of
    # them touches the customer's state of the trigger (state.ttl); None:
    # every event (activity and B events read them all).
    USES = None

    def __init__(self, name, params, catalog):
        self.name = name
        self.p = params
        self.catalog = catalog
        self.state = {}

    def new_state(self):
        raise NotImplementedError

    def st(self, key):
        s = self.state.get(key)
        if s is None:
            s = self.state[key] = self.new_state()
        return s

    def apply(self, ev):
        """§2 step 3: apply the event to its customer's state."""
        raise NotImplementedError

    def timers(self, key):
        """Pending timers of one customer: list of (due, reference, handle);
        the reference orders timers of one customer due at the same D
        (§5, byte order)."""
        raise NotImplementedError

    def fire(self, key, handle, D, out):
        """Fires one timer due at D; appends actions to out."""
        raise NotImplementedError


class CartModel:
    """§5 cart model: the open cart and its last mutation, plus the
    "nothing from before the last order" time. One copy per trigger."""

    def __init__(self):
        self.cart = None           # dict(cart_id, opened, lines)
        self.last_mut = None       # the Event of the last mutation
        self.last_order_ts = None
        # currency of the customer's latest product event on a cart (not in
        # the contract: the engine's choice, observed as a black box)
        self.currency = None

    @staticmethod
    def is_mutation(ev):
        if ev.type in ("product_added", "product_removed", "checkout_started"):
            return True
        return ev.type == "cart_viewed" and ev.products is not None

    def blocked(self, ev):
        if "before_last_order" in DISABLED:
            return False
        # §5 "Nothing from before the last order" speaks of cart mutations:
        # a cart_viewed without products (no mutation) is not covered.
        return self.last_order_ts is not None and \
            ev.ts <= self.last_order_ts and self.is_mutation(ev)

    def order(self, ev):
        if self.last_order_ts is None or ev.ts > self.last_order_ts:
            self.last_order_ts = ev.ts
        self.cart = None
        self.last_mut = None
        self.currency = None

    def cart_event(self, ev):
        """Applies a cart event that is not blocked: a non-null cart_id other
        than the open cart's starts a new, empty cart before it is applied,
        a null one means the open cart, with none open the event opens one
        (§5; any cart event, a mutation or not); then the mutation, if it
        is one. Returns whether it was a mutation."""
        if self.cart is None or (ev.cart_id is not None and
                                 ev.cart_id != self.cart["cart_id"]):
            self.cart = {"cart_id": ev.cart_id, "opened": ev.ts, "lines": {}}
        if not self.is_mutation(ev):
            return False
        self.mutate(ev)
        return True

    def mutate(self, ev):
        lines = self.cart["lines"]
        if ev.type in ("product_added", "product_removed"):
            prod = ev.product or {}
            if prod.get("currency"):
                self.currency = prod["currency"]
            sku = prod.get("sku")
            if sku is not None:
                # the contract is silent on a line's price and category:
                # a product event's known ones replace the line's (the
                # engine's convention), unknown ones keep them
                line = lines.get(sku)
                if ev.type == "product_added" and line is None:
                    line = lines[sku] = {"quantity": 0, "price_cents": None,
                                         "category": None}
                if line is not None:
                    line["quantity"] += (ev.quantity
                                         if ev.type == "product_added"
                                         else -ev.quantity)
                    if prod.get("price_cents") is not None:
                        line["price_cents"] = prod["price_cents"]
                    if prod.get("category") is not None:
                        line["category"] = prod["category"]
                    if line["quantity"] <= 0:
                        del lines[sku]
        elif ev.products is not None:
            new = {}
            for li in ev.products:
                q = li.get("quantity", 1)
                if q is None:
                    q = 1
                line = new.get(li["sku"])
                if line is None:
                    line = new[li["sku"]] = {"quantity": 0}
                line["quantity"] += q
                line["price_cents"] = li.get("price_cents")
                line["category"] = li.get("category")
            self.cart["lines"] = {k: v for k, v in new.items()
                                  if v["quantity"] > 0}
        self.last_mut = ev

    def nonempty(self):
        return self.cart is not None and bool(self.cart["lines"])

    def cart_part(self):
        c = self.cart
        return c["cart_id"] if c["cart_id"] is not None else "@%d" % c["opened"]

    def items(self):
        return [{"sku": s, "quantity": l["quantity"],
                 "price_cents": l["price_cents"], "category": l["category"]}
                for s, l in self.cart["lines"].items()]

    def value_currency(self):
        # value of the lines with a known price (not in the contract: the
        # engine's choice, observed as a black box); null when none has one
        priced = [l for l in self.cart["lines"].values()
                  if l["price_cents"] is not None]
        value = sum(l["quantity"] * l["price_cents"] for l in priced) \
            if priced else None
        return value, self.currency


def _before_cart(t, ev):
    """KNOWN activity_before_cart: a cart trigger keeps nothing for a
    customer before the first event that opens a cart (a mutation, or a
    cart event with a cart_id) or an order."""
    return "activity_before_cart" in KNOWN and ev.key not in t.state and \
        not CartModel.is_mutation(ev) and \
        not (ev.type in CART_TYPES and ev.cart_id is not None) and \
        ev.type != "order_completed"


class CartAbandonment(Trigger):
    TYPE = "cart_abandonment"

    def new_state(self):
        return {"cart": CartModel(), "stage": 0, "due": None,
                "activity": []}

    def apply(self, ev):
        if _before_cart(self, ev):
            return                    # known deviation: see KNOWN
        s = self.st(ev.key)
        cm = s["cart"]
        if ev.type == "order_completed":
            cm.order(ev)
            s["due"] = None
        elif ev.type in CART_TYPES and not cm.blocked(ev):
            if not cm.cart_event(ev):
                if not cm.nonempty():
                    s["due"] = None   # a new, empty cart disarms
            elif cm.nonempty():
                s["stage"] = 0
                s["due"] = ev.ts + self.p["delays"][0]
            else:
                s["due"] = None
        # every applied event is activity (after the timers of step 2)
        s["activity"].append(ev.ts)

    def timers(self, key):
        s = self.state[key]
        return [] if s["due"] is None else [(s["due"], "", None)]

    def fire(self, key, handle, D, out):
        s = self.state[key]
        mi = self.p["min_inactivity"]
        if mi > 0:
            act = [t for t in s["activity"] if D - mi < t <= D]
            if act:
                s["due"] = max(act) + mi
                return
        cm = s["cart"]
        stage = s["stage"]
        m = cm.last_mut
        value, cur = cm.value_currency()
        out.append(make_action(
            self, key, m.key_is_customer, D,
            action_id=action_id(self.name, key, m.event_id, str(stage)),
            channel=m.channel, device_id=m.device_id, stage=stage,
            cart_id=cm.cart["cart_id"], items=cm.items(), value_cents=value,
            currency=cur, source_event_ids=[m.event_id]))
        delays = self.p["delays"]
        if stage + 1 < len(delays):
            s["stage"] = stage + 1
            s["due"] = m.ts + delays[stage + 1]
        else:
            s["due"] = None


class BrowseAbandonment(Trigger):
    TYPE = "browse_abandonment"
    USES = {"product_viewed", "product_added", "checkout_started",
            "order_completed"}

    def new_state(self):
        # views: list of Events of the current session, in processing order
        return {"views": None, "due": None, "last_emitted": None}

    def apply(self, ev):
        s = self.st(ev.key)
        if ev.type in ("product_added", "checkout_started", "order_completed"):
            s["views"] = None
            s["due"] = None
            return
        if ev.type != "product_viewed" or not ev.product or \
                ev.product.get("sku") is None:
            return
        gap = self.p["session_gap"]
        views = s["views"]
        if views:
            latest = max(v.ts for v in views)
            start = min(v.ts for v in views)
            if ev.ts > latest + gap:
                views = None          # a new session discards the old one
            elif ev.ts < start - gap:
                return                # older than the session: ignored
        if not views:
            views = []
        views.append(ev)
        s["views"] = views
        s["due"] = ev.ts + self.p["delay"]

    def timers(self, key):
        s = self.state[key]
        return [] if s["due"] is None else [(s["due"], "", None)]

    def fire(self, key, handle, D, out):
        s = self.state[key]
        views = s["views"]
        s["views"] = None
        s["due"] = None
        if len(views) < self.p["min_views"]:
            return
        cd = self.p["cooldown"]
        if s["last_emitted"] is not None and D < s["last_emitted"] + cd:
            return                    # suppressed: no extension
        s["last_emitted"] = D
        per = {}
        for v in views:
            sku = v.product["sku"]
            r = per.setdefault(sku, {"count": 0, "latest": None, "seq": 0,
                                     "ev": None})
            r["count"] += 1
            if r["latest"] is None or v.ts > r["latest"]:
                r["latest"] = v.ts
            r["seq"] = v.seq
            r["ev"] = v
        ranked = sorted(per.items(), key=lambda kv: (
            -kv[1]["count"], -kv[1]["latest"], -kv[1]["seq"]))
        items = [{"sku": sku, "quantity": r["count"],
                  "price_cents": r["ev"].product.get("price_cents"),
                  "category": r["ev"].product.get("category")}
                 for sku, r in ranked[:self.p["max_items"]]]
        last = views[-1]
        out.append(make_action(
            self, key, last.key_is_customer, D,
            action_id=action_id(self.name, key, last.event_id),
            channel=last.channel, device_id=last.device_id, items=items,
            source_event_ids=[last.event_id]))


class PostPurchaseUpsell(Trigger):
    TYPE = "post_purchase_upsell"
    USES = {"order_completed", "order_refunded", "order_cancelled"}

    def new_state(self):
        return {"orders": {}}     # order_id -> pending dict

    def recommend(self, ev):
        skus = [li["sku"] for li in (ev.products or [])]
        inorder = set(skus)
        recs = []
        for sku in skus:
            prod = self.catalog.get(sku)
            if prod is None:
                continue
            for c in prod.get("complements") or []:
                if c in recs or c in inorder:
                    continue
                cp = self.catalog.get(c)
                if cp is None or cp.get("in_stock") is False:
                    continue
                recs.append(c)
        return recs

    def apply(self, ev):
        s = self.st(ev.key)
        orders = s["orders"]
        if ev.type == "order_completed":
            skus = set(li["sku"] for li in (ev.products or []))
            for oid in list(orders):
                if oid == ev.order_id:
                    continue
                o = orders[oid]
                o["recs"] = [r for r in o["recs"] if r not in skus]
                if not o["recs"]:
                    del orders[oid]
            recs = self.recommend(ev)
            if recs:
                orders[ev.order_id] = {"due": ev.ts + self.p["delay"],
                                       "recs": recs, "ev": ev}
            else:
                orders.pop(ev.order_id, None)
        elif ev.type in ("order_refunded", "order_cancelled"):
            orders.pop(ev.order_id, None)

    def timers(self, key):
        return [(o["due"], oid, oid)
                for oid, o in self.state[key]["orders"].items()]

    def fire(self, key, handle, D, out):
        o = self.state[key]["orders"].pop(handle)
        ev = o["ev"]
        out.append(make_action(
            self, key, ev.key_is_customer, D,
            action_id=action_id(self.name, key, ev.order_id),
            channel=ev.channel, device_id=ev.device_id, order_id=ev.order_id,
            cart_id=ev.cart_id, recommended_skus=o["recs"][:self.p["max_items"]],
            source_event_ids=[ev.event_id]))


def _same_place(x, y):
    """Not "another channel or device" (§3): the same channel, and not two
    device ids that differ."""
    return x.channel == y.channel and not (
        x.device_id is not None and y.device_id is not None and
        x.device_id != y.device_id)


def _b_identity(ev):
    return ev.device_id if ev.device_id is not None else ev.channel


class ChannelSwitch(Trigger):
    TYPE = "channel_switch"

    def new_state(self):
        # instances: (cart part, B) -> instance; sent: (cart part, B) pairs
        # that produced an action, for the life of the state
        return {"cart": CartModel(), "instances": {}, "sent": set()}

    def apply(self, ev):
        if _before_cart(self, ev):
            return                    # known deviation: see KNOWN
        s = self.st(ev.key)
        cm = s["cart"]
        if ev.type == "order_completed":
            cm.order(ev)
            s["instances"].clear()
            if "cs_history_survives_order" in DISABLED:
                s["sent"].clear()
            return
        if ev.type in CART_TYPES:
            if cm.blocked(ev):
                return                # neither a mutation nor a B event
            if cm.cart_event(ev):
                # a mutation on B cancels B's instances. Reading of §5: "on
                # B" is having B's identity (device_id when set, else
                # channel); when A and B share a device on two channels,
                # "mutations on A do not cancel" wins for a mutation that is
                # not another channel or device than A (§3's sense).
                for k, inst in list(s["instances"].items()):
                    b, a = inst["b"], inst["a"]
                    if ((ev.device_id is None) == (b.device_id is None) and
                            _b_identity(ev) == _b_identity(b) and
                            not _same_place(ev, a)):
                        del s["instances"][k]
                return
        # a possible B event
        if not cm.nonempty() or cm.last_mut is None:
            return
        if ev.channel not in self.p["channels"]:
            return
        a = cm.last_mut
        if not (ev.channel != a.channel or (
                ev.device_id is not None and a.device_id is not None and
                ev.device_id != a.device_id)):
            return
        if not 0 <= ev.ts - a.ts <= self.p["switch_window"]:
            return
        k = (cm.cart_part(), _b_identity(ev))
        if k in s["instances"] or k in s["sent"]:
            return
        s["instances"][k] = {"due": ev.ts + self.p["grace"], "a": a, "b": ev}

    def timers(self, key):
        return [(i["due"], k[0].encode() + b"\0" + k[1].encode(), k)
                for k, i in self.state[key]["instances"].items()]

    def fire(self, key, handle, D, out):
        s = self.state[key]
        inst = s["instances"].pop(handle)
        cm = s["cart"]
        if not cm.nonempty() or cm.cart_part() != handle[0]:
            return
        s["sent"].add(handle)
        a, b = inst["a"], inst["b"]
        value, cur = cm.value_currency()
        out.append(make_action(
            self, key, b.key_is_customer, D,
            action_id=action_id(self.name, key, handle[0], handle[1]),
            channel=b.channel, device_id=b.device_id,
            cart_id=cm.cart["cart_id"], items=cm.items(), value_cents=value,
            currency=cur, from_channel=a.channel, from_device_id=a.device_id,
            source_event_ids=[a.event_id, b.event_id], gap_ms=b.ts - a.ts))


TRIGGER_TYPES = {c.TYPE: c for c in
                 (CartAbandonment, BrowseAbandonment, PostPurchaseUpsell,
                  ChannelSwitch)}

# ---------------------------------------------------------------- runtime


def _ref_bytes(r):
    return r if isinstance(r, bytes) else str(r).encode("utf-8")


class Runtime:
    """§2 time and the firing loop, §5 "Time and order", state.ttl. One task
    (replay), events in file order."""

    def __init__(self, config, catalog):
        self.cfg = config
        self.W = None
        self.triggers = [TRIGGER_TYPES[typ](name, p, catalog)
                         for name, typ, p in config.triggers]
        self.touched = {}   # (trigger index, key) -> last event time touching
        self.out = []

    def fire_due(self):
        """Fires every timer with W > D, in order of D, key, trigger name,
        reference; timers armed while firing that are due fire too."""
        if self.W is None:
            return
        while True:
            best = None
            for ti, t in enumerate(self.triggers):
                for key in t.state:
                    for D, ref, handle in t.timers(key):
                        if self.W > D:
                            cand = (D, key.encode("utf-8"),
                                    t.name.encode("utf-8"), _ref_bytes(ref))
                            if best is None or cand < best[0]:
                                best = (cand, ti, key, handle, D)
            if best is None:
                return
            _, ti, key, handle, D = best
            self.triggers[ti].fire(key, handle, D, self.out)

    @staticmethod
    def holds(t, key):
        """Whether t keeps anything for key: a state equal to a fresh one is
        no state (the model makes states lazily; the contract's state is
        what a trigger remembers)."""
        return key in t.state and t.state[key] != t.new_state()

    def expire(self, ev):
        """state.ttl: a customer's state of one trigger that nothing touched
        for ttl of event time is dropped, unless it holds a pending timer.
        Reading: an event touches (and is when the rule is checked) the
        state of the triggers whose rules read its type (Trigger.USES)."""
        key = ev.key
        for ti, t in enumerate(self.triggers):
            if t.USES is not None and ev.type not in t.USES:
                continue
            if key in t.state and not t.timers(key):
                last = self.touched.get((ti, key))
                if last is not None and self.W - last > self.cfg.ttl:
                    del t.state[key]

    def event(self, ev):
        cand = ev.ts - self.cfg.bound
        self.W = cand if self.W is None else max(self.W, cand)
        self.fire_due()
        self.expire(ev)
        for ti, t in enumerate(self.triggers):
            k = (ti, ev.key)
            existed = self.holds(t, ev.key)
            t.apply(ev)
            if not self.holds(t, ev.key):
                t.state.pop(ev.key, None)
                self.touched.pop(k, None)   # nothing there to touch
                continue
            if not existed:
                self.touched.pop(k, None)   # made by this event
            if t.USES is not None and ev.type not in t.USES:
                continue
            self.touched[k] = max(self.touched.get(k, ev.ts), ev.ts)

    def end(self, end_time):
        if end_time is not None:
            self.W = end_time if self.W is None else max(self.W, end_time)
            self.fire_due()


def load_catalog(path):
    cat = {}
    if path:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    p = json.loads(line)
                    cat[p["sku"]] = p
                except (ValueError, KeyError, TypeError):
                    continue
    return cat


def run(config_path, events_path, catalog_path=None, end_time=None):
    rt = Runtime(load_config(config_path), load_catalog(catalog_path))
    seq = 0
    with open(events_path) as f:
        for line in f:
            if not line.strip():
                continue
            seq += 1
            ev = parse_event(line, seq)
            if ev is None:
                continue              # dead letter: no watermark, no activity
            rt.event(ev)
    rt.end(end_time)
    return rt.out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--config", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--catalog")
    ap.add_argument("--end-time", type=int)
    ap.add_argument("--output", default="-")
    a = ap.parse_args(argv)
    acts = run(a.config, a.input, a.catalog, a.end_time)
    f = sys.stdout if a.output == "-" else open(a.output, "w")
    for x in acts:
        f.write(json.dumps(x, separators=(",", ":")) + "\n")
    if f is not sys.stdout:
        f.close()


if __name__ == "__main__":
    main()

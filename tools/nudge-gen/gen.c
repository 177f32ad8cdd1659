/*
 * gen.c — the traffic model of nudge-gen. OVERALL DESIGN
 *
 * A pool of `sessions` slots, each running one customer's session as a
 * small state machine (entry, browse, add to cart, remove, view the cart,
 * switch device, checkout, order, refund, tail). Each call picks a slot at
 * random and advances it by exactly one event; a session that ends is
 * replaced at once by a new one for a random customer. Which way a session
 * goes (cart or not, abandoned or ordered, switched or not, refunded or
 * not) is drawn when it starts, with the configured shares, so the shares
 * hold per cart and per order and the test can check them.
 *
 * Everything random comes from one splitmix64 stream seeded with the seed,
 * and customer attributes (known or anonymous, devices) from a hash of the
 * seed and the customer number, so no per-customer memory is kept: a run
 * with 5M customers costs the same memory as one with 5.
 *
 * Ids are counters (event, session, cart, order, checkout), prefixed so that
 * they read well in a topic: e<seed>-<n>, cust-<n>, anon-<n>, cart-<n>...
 * The event counter is the last part of event_id, so a reader can find an
 * event's sequence number without a table (bench/bench_latency.c does).
 */
#include "gen.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "mem.h"

#define MAX_LINES 4
#define ID_LEN    40

enum {
        S_ENTRY = 0,
        S_BROWSE,
        S_ADD,
        S_REMOVE,
        S_VIEW_CART,
        S_SWITCH,
        S_SWITCH_CART,
        S_CHECKOUT,
        S_ORDER,
        S_POST,
        S_REFUND,
        S_TAIL,
        S_END
};

#define DEV_KIOSK 255

struct line {
        uint32_t prod;
        int32_t qty;
};

struct sess {
        uint32_t cust;
        uint64_t no; /* session number */
        uint64_t cart_no, order_no, checkout_no;
        uint8_t state;
        uint8_t dev;     /* device index of the customer, or DEV_KIOSK */
        uint8_t channel; /* where the session's events happen now */
        uint8_t left;    /* events left in the current browse run */
        uint8_t adds_left;
        bool cart, abandon, do_switch, refund, remove, view;
        uint8_t line_cnt;
        struct line lines[MAX_LINES];
        uint32_t last_viewed;
        int64_t value;
};

struct nd_gen_s {
        nd_gen_opts_t o;
        uint64_t rng;
        uint64_t n; /* events generated */
        uint64_t sess_no, cart_no, order_no, checkout_no;
        struct sess *slots;
        /* catalog */
        char (*skus)[16];
        /* scratch of the current event */
        char event_id[ID_LEN], customer_id[ID_LEN], anonymous_id[ID_LEN];
        char device_id[ID_LEN], session_id[ID_LEN], cart_id[ID_LEN];
        char order_id[ID_LEN], checkout_id[ID_LEN], campaign_id[ID_LEN];
        char action_id[ID_LEN];
        nd_line_item_t items[MAX_LINES];
        /* scratch of the current product */
        char name[48];
        nd_str_t complements[4];
};

static const char *const categories[] = {
    "shoes",  "apparel", "bags",   "beauty", "home",  "kitchen",
    "garden", "toys",    "sports", "books",  "audio", "phones"};
#define CATEGORY_CNT (sizeof(categories) / sizeof(categories[0]))

/* ------------------------------------------------------------------ */
/* Randomness                                                          */

static uint64_t mix(uint64_t z) {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

/* splitmix64: one stream for the whole run. */
static uint64_t rnd(nd_gen_t *g) {
        g->rng += 0x9e3779b97f4a7c15ULL;
        return mix(g->rng);
}

/* Uniform in [0, 1) with 53 bits. */
static double unif(nd_gen_t *g) {
        return (double)(rnd(g) >> 11) * (1.0 / 9007199254740992.0);
}

static bool chance(nd_gen_t *g, double p) {
        return unif(g) < p;
}

static uint32_t below(nd_gen_t *g, uint32_t n) {
        return (uint32_t)(rnd(g) % n);
}

/* A stateless attribute of (seed, customer, what) in [0, 1). */
static double cust_unif(const nd_gen_t *g, uint32_t cust, uint64_t what) {
        uint64_t h = mix(g->o.seed ^ mix(((uint64_t)cust << 8) ^ what));
        return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

/* ------------------------------------------------------------------ */
/* Customers and products                                              */

static bool cust_known(const nd_gen_t *g, uint32_t cust) {
        return cust_unif(g, cust, 1) < g->o.known_share;
}

static int cust_devices(const nd_gen_t *g, uint32_t cust) {
        double u = cust_unif(g, cust, 2);
        return u < 0.30 ? 1 : u < 0.75 ? 2 : 3;
}

static nd_device_type_t dev_type(const nd_gen_t *g, uint32_t cust, int dev) {
        static const nd_device_type_t others[] = {
            ND_DEVICE_DESKTOP, ND_DEVICE_TABLET, ND_DEVICE_MOBILE};
        if (dev == DEV_KIOSK)
                return ND_DEVICE_KIOSK;
        if (dev == 0)
                return cust_unif(g, cust, 3) < 0.65 ? ND_DEVICE_MOBILE
                                                    : ND_DEVICE_DESKTOP;
        return others[(dev - 1 + (cust_unif(g, cust, 4) < 0.5)) % 3];
}

/* Popular products are picked more often (u^2 skew). */
static uint32_t pick_product(nd_gen_t *g) {
        double u = unif(g);
        return (uint32_t)(u * u * g->o.products);
}

static int64_t product_price(const nd_gen_t *g, uint32_t p) {
        return 199 +
               (int64_t)(mix(g->o.seed ^ (0x5eedULL << 32) ^ p) % 200) * 100;
}

static const char *product_category(uint32_t p) {
        return categories[p % CATEGORY_CNT];
}

/* ------------------------------------------------------------------ */
/* Options                                                             */

void nd_gen_opts_default(nd_gen_opts_t *o) {
        memset(o, 0, sizeof(*o));
        o->seed = 1;
        o->customers = 100000;
        o->known_share = 0.6;
        o->sessions = 1000;
        o->products = 1000;
        o->cart_share = 0.3;
        o->abandon_share = 0.7;
        o->switch_share = 0.15;
        o->refund_share = 0.05;
        o->ooo_share = 0.02;
        o->max_lateness_ms = 10000;
        o->start_ms = 1767225600000LL; /* 2026-01-01T00:00:00Z */
        o->sim_rate = 1000;
        o->wall_clock = false;
}

static bool is_share(double v) {
        return v >= 0.0 && v <= 1.0;
}

nd_err_t nd_gen_opts_check(const nd_gen_opts_t *o, char *errstr,
                           size_t errstr_size) {
        const char *bad = NULL;
        if (o->customers < 1 || o->customers > 4000000000L)
                bad = "--customers: expected 1..4000000000";
        else if (!is_share(o->known_share))
                bad = "--known-share: expected 0..1";
        else if (o->sessions < 1 || o->sessions > 1000000)
                bad = "--sessions: expected 1..1000000";
        else if (o->products < 10 || o->products > 10000000)
                bad = "--products: expected 10..10000000";
        else if (!is_share(o->cart_share))
                bad = "--cart-share: expected 0..1";
        else if (!is_share(o->abandon_share))
                bad = "--abandon-share: expected 0..1";
        else if (!is_share(o->switch_share))
                bad = "--switch-share: expected 0..1";
        else if (!is_share(o->refund_share))
                bad = "--refund-share: expected 0..1";
        else if (!is_share(o->ooo_share))
                bad = "--ooo-share: expected 0..1";
        else if (o->max_lateness_ms < 1 || o->max_lateness_ms > 86400000LL)
                bad = "--max-lateness: expected 1ms..1d";
        else if (!(o->sim_rate > 0))
                bad = "event-time rate must be positive";
        if (bad) {
                snprintf(errstr, errstr_size, "%s", bad);
                return ND_ERR_INVAL;
        }
        return ND_OK;
}

/* ------------------------------------------------------------------ */
/* Sessions                                                            */

static void sess_start(nd_gen_t *g, struct sess *s) {
        uint32_t cust = below(g, (uint32_t)g->o.customers);
        int ndev = cust_devices(g, cust);
        double r = unif(g);

        memset(s, 0, sizeof(*s));
        s->cust = cust;
        s->no = ++g->sess_no;
        s->state = S_ENTRY;
        s->dev = (uint8_t)below(g, (uint32_t)ndev);
        /* Entry channel: web 50 %, app 30 %, email click 8 %, push click
         * 7 %, store kiosk 5 % (known customers only: a loyalty card). */
        if (r < 0.50)
                s->channel = ND_CHANNEL_WEB;
        else if (r < 0.80)
                s->channel = ND_CHANNEL_APP;
        else if (r < 0.88)
                s->channel = ND_CHANNEL_EMAIL;
        else if (r < 0.95)
                s->channel = ND_CHANNEL_PUSH;
        else if (cust_known(g, cust)) {
                s->channel = ND_CHANNEL_STORE;
                s->dev = DEV_KIOSK;
        } else
                s->channel = ND_CHANNEL_WEB;
        if (s->channel == ND_CHANNEL_APP &&
            dev_type(g, cust, s->dev) == ND_DEVICE_DESKTOP)
                s->channel = ND_CHANNEL_WEB;
        s->cart = chance(g, g->o.cart_share);
        s->abandon = chance(g, g->o.abandon_share);
        s->do_switch = chance(g, g->o.switch_share);
        s->refund = chance(g, g->o.refund_share);
        s->remove = chance(g, 0.10);
        s->view = chance(g, 0.5);
        s->last_viewed = pick_product(g);
}

/* 1 + a geometric count with mean `mean`, capped. */
static uint8_t run_length(nd_gen_t *g, double mean, int cap) {
        int n = 1;
        double p = mean / (mean + 1.0);
        while (n < cap && chance(g, p))
                n++;
        return (uint8_t)n;
}

static void fill_envelope(nd_gen_t *g, const struct sess *s, nd_event_t *ev,
                          nd_event_type_t type, int64_t ts) {
        bool known = cust_known(g, s->cust);
        int n;

        memset(ev, 0, sizeof(*ev));
        ev->type = type;
        n = snprintf(g->event_id, ID_LEN, "e%" PRIu64 "-%" PRIu64, g->o.seed,
                     g->n);
        ev->event_id = (nd_str_t){g->event_id, (uint32_t)n};
        if (known) {
                n = snprintf(g->customer_id, ID_LEN, "cust-%" PRIu32, s->cust);
                ev->customer_id = (nd_str_t){g->customer_id, (uint32_t)n};
                ev->key = ev->customer_id;
                ev->key_is_customer = true;
                /* A known customer on the web still has a cookie. */
                if (s->channel == ND_CHANNEL_WEB && (s->cust & 1)) {
                        n = snprintf(g->anonymous_id, ID_LEN,
                                     "anon-%" PRIu32 "-%d", s->cust, s->dev);
                        ev->anonymous_id =
                            (nd_str_t){g->anonymous_id, (uint32_t)n};
                }
        } else {
                n = snprintf(g->anonymous_id, ID_LEN, "anon-%" PRIu32, s->cust);
                ev->anonymous_id = (nd_str_t){g->anonymous_id, (uint32_t)n};
                ev->key = ev->anonymous_id;
        }
        ev->timestamp = ts;
        ev->channel = (nd_channel_t)s->channel;
        ev->device_type = dev_type(g, s->cust, s->dev);
        if (s->dev == DEV_KIOSK)
                n = snprintf(g->device_id, ID_LEN, "kiosk-%" PRIu32,
                             s->cust % 50);
        else
                n = snprintf(g->device_id, ID_LEN, "dev-%" PRIu32 "-%d",
                             s->cust, s->dev);
        ev->device_id = (nd_str_t){g->device_id, (uint32_t)n};
        n = snprintf(g->session_id, ID_LEN, "s-%" PRIu64, s->no);
        ev->session_id = (nd_str_t){g->session_id, (uint32_t)n};
}

static void set_product(nd_gen_t *g, nd_event_t *ev, uint32_t p) {
        const char *cat = product_category(p);
        ev->has_product = true;
        ev->product.sku = (nd_str_t){g->skus[p], (uint32_t)strlen(g->skus[p])};
        ev->product.category = (nd_str_t){cat, (uint32_t)strlen(cat)};
        ev->product.price_cents = product_price(g, p);
        ev->product.has_price = true;
        ev->product.currency = (nd_str_t){"EUR", 3};
}

static void set_cart_id(nd_gen_t *g, nd_event_t *ev, const struct sess *s) {
        int n = snprintf(g->cart_id, ID_LEN, "cart-%" PRIu64, s->cart_no);
        ev->cart_id = (nd_str_t){g->cart_id, (uint32_t)n};
}

static void set_lines(nd_gen_t *g, nd_event_t *ev, struct sess *s) {
        s->value = 0;
        for (int i = 0; i < s->line_cnt; i++) {
                uint32_t p = s->lines[i].prod;
                const char *cat = product_category(p);
                nd_line_item_t *li = &g->items[i];
                li->sku = (nd_str_t){g->skus[p], (uint32_t)strlen(g->skus[p])};
                li->category = (nd_str_t){cat, (uint32_t)strlen(cat)};
                li->quantity = s->lines[i].qty;
                li->price_cents = product_price(g, p);
                li->has_price = true;
                s->value += li->price_cents * li->quantity;
        }
        ev->has_products = true;
        ev->product_cnt = s->line_cnt;
        ev->products = g->items;
}

static void set_order(nd_gen_t *g, nd_event_t *ev, struct sess *s) {
        int n = snprintf(g->order_id, ID_LEN, "ord-%" PRIu64, s->order_no);
        ev->order_id = (nd_str_t){g->order_id, (uint32_t)n};
        set_lines(g, ev, s);
        ev->value_cents = s->value;
        ev->has_value = true;
        ev->currency = (nd_str_t){"EUR", 3};
        set_cart_id(g, ev, s);
        n = snprintf(g->checkout_id, ID_LEN, "chk-%" PRIu64, s->checkout_no);
        ev->checkout_id = (nd_str_t){g->checkout_id, (uint32_t)n};
}

static void browse_event(nd_gen_t *g, struct sess *s, nd_event_t *ev,
                         int64_t ts) {
        double r = unif(g);
        if (r < 0.55) {
                /* Views come back to the same product now and then, as
                 * browse_abandonment expects of a real visitor. */
                if (!chance(g, 0.35))
                        s->last_viewed = pick_product(g);
                fill_envelope(g, s, ev, ND_EV_PRODUCT_VIEWED, ts);
                set_product(g, ev, s->last_viewed);
        } else if (r < 0.80) {
                fill_envelope(g, s, ev, ND_EV_PAGE_VIEWED, ts);
        } else {
                fill_envelope(g, s, ev, ND_EV_PRODUCTS_SEARCHED, ts);
        }
}

static void entry_event(nd_gen_t *g, struct sess *s, nd_event_t *ev,
                        int64_t ts) {
        if (s->channel == ND_CHANNEL_EMAIL || s->channel == ND_CHANNEL_PUSH) {
                int n;
                fill_envelope(g, s, ev, ND_EV_MESSAGE_CLICKED, ts);
                n = snprintf(g->campaign_id, ID_LEN, "camp-%" PRIu32,
                             below(g, 40));
                ev->campaign_id = (nd_str_t){g->campaign_id, (uint32_t)n};
                if (chance(g, 0.5)) {
                        n = snprintf(g->action_id, ID_LEN,
                                     "%016" PRIx64 "%016" PRIx64, rnd(g),
                                     rnd(g));
                        ev->action_id = (nd_str_t){g->action_id, (uint32_t)n};
                }
                /* The click lands on the site or in the app. */
                s->channel =
                    s->channel == ND_CHANNEL_PUSH &&
                            dev_type(g, s->cust, s->dev) != ND_DEVICE_DESKTOP
                        ? ND_CHANNEL_APP
                        : ND_CHANNEL_WEB;
        } else if (s->channel == ND_CHANNEL_APP) {
                fill_envelope(g, s, ev, ND_EV_APP_OPENED, ts);
        } else if (s->channel == ND_CHANNEL_STORE) {
                fill_envelope(g, s, ev, ND_EV_PRODUCT_VIEWED, ts);
                set_product(g, ev, s->last_viewed);
        } else {
                fill_envelope(g, s, ev, ND_EV_PAGE_VIEWED, ts);
        }
}

/* The customer picks up another device (or, with one device, the other
 * of web and app on it); a store visit continues on the web at home. */
static void switch_device(nd_gen_t *g, struct sess *s) {
        int ndev = cust_devices(g, s->cust);
        if (s->dev == DEV_KIOSK) {
                s->dev = 0;
                s->channel = ND_CHANNEL_WEB;
        } else if (ndev > 1) {
                s->dev = (uint8_t)((s->dev + 1) % ndev);
                s->channel =
                    dev_type(g, s->cust, s->dev) == ND_DEVICE_DESKTOP
                        ? ND_CHANNEL_WEB
                        : (chance(g, 0.5) ? ND_CHANNEL_APP : ND_CHANNEL_WEB);
        } else {
                s->channel = s->channel == ND_CHANNEL_WEB ? ND_CHANNEL_APP
                                                          : ND_CHANNEL_WEB;
        }
}

static uint8_t after_cart(const struct sess *s) {
        if (s->do_switch)
                return S_SWITCH;
        return s->abandon ? S_TAIL : S_CHECKOUT;
}

static void add_line(nd_gen_t *g, struct sess *s, uint32_t p, int qty) {
        for (int i = 0; i < s->line_cnt; i++)
                if (s->lines[i].prod == p) {
                        s->lines[i].qty += qty;
                        return;
                }
        if (s->line_cnt < MAX_LINES)
                s->lines[s->line_cnt++] = (struct line){p, qty};
        else
                s->lines[below(g, MAX_LINES)].qty += qty;
}

/*
 * Emits the session's next event into ev and moves it on. Returns false
 * when the session has ended (ev untouched), so the caller starts another.
 */
static bool sess_step(nd_gen_t *g, struct sess *s, nd_event_t *ev, int64_t ts) {
        switch (s->state) {
        case S_ENTRY:
                entry_event(g, s, ev, ts);
                s->state = S_BROWSE;
                s->left = run_length(g, 3.0, 30);
                return true;
        case S_BROWSE:
                browse_event(g, s, ev, ts);
                if (--s->left == 0) {
                        if (s->cart) {
                                s->state = S_ADD;
                                s->adds_left = (uint8_t)(1 + below(g, 3));
                                s->cart_no = ++g->cart_no;
                        } else {
                                s->state = S_END;
                        }
                }
                return true;
        case S_ADD: {
                uint32_t p = chance(g, 0.7) ? s->last_viewed : pick_product(g);
                int qty = chance(g, 0.85) ? 1 : 2;
                fill_envelope(g, s, ev, ND_EV_PRODUCT_ADDED, ts);
                set_product(g, ev, p);
                set_cart_id(g, ev, s);
                ev->quantity = qty;
                ev->has_quantity = qty != 1 || chance(g, 0.5);
                add_line(g, s, p, qty);
                s->last_viewed = pick_product(g);
                if (--s->adds_left == 0)
                        s->state = s->remove ? S_REMOVE
                                   : s->view ? S_VIEW_CART
                                             : after_cart(s);
                return true;
        }
        case S_REMOVE: {
                /* Remove one unit of the last line, keeping the cart
                 * non-empty (an empty cart would not be abandoned). */
                struct line *l = &s->lines[s->line_cnt - 1];
                fill_envelope(g, s, ev, ND_EV_PRODUCT_REMOVED, ts);
                set_product(g, ev, l->prod);
                set_cart_id(g, ev, s);
                ev->quantity = 1;
                ev->has_quantity = true;
                if (l->qty > 1 || s->line_cnt > 1) {
                        if (--l->qty == 0)
                                s->line_cnt--;
                } else {
                        /* Removing the only unit: the customer puts
                         * another product in the cart right after. */
                        s->line_cnt = 0;
                        s->state = S_ADD;
                        s->adds_left = 1;
                        s->remove = false;
                        return true;
                }
                s->state = s->view ? S_VIEW_CART : after_cart(s);
                return true;
        }
        case S_VIEW_CART:
                fill_envelope(g, s, ev, ND_EV_CART_VIEWED, ts);
                set_cart_id(g, ev, s);
                set_lines(g, ev, s);
                s->state = after_cart(s);
                return true;
        case S_SWITCH:
                switch_device(g, s);
                fill_envelope(g, s, ev,
                              s->channel == ND_CHANNEL_APP ? ND_EV_APP_OPENED
                                                           : ND_EV_PAGE_VIEWED,
                              ts);
                s->state = S_SWITCH_CART;
                return true;
        case S_SWITCH_CART:
                fill_envelope(g, s, ev, ND_EV_CART_VIEWED, ts);
                set_cart_id(g, ev, s);
                set_lines(g, ev, s);
                s->state = s->abandon ? S_TAIL : S_CHECKOUT;
                s->left = (uint8_t)below(g, 3);
                return true;
        case S_CHECKOUT:
                s->checkout_no = ++g->checkout_no;
                fill_envelope(g, s, ev, ND_EV_CHECKOUT_STARTED, ts);
                set_cart_id(g, ev, s);
                set_lines(g, ev, s);
                s->state = S_ORDER;
                return true;
        case S_ORDER:
                s->order_no = ++g->order_no;
                fill_envelope(g, s, ev, ND_EV_ORDER_COMPLETED, ts);
                set_order(g, ev, s);
                if (s->refund) {
                        s->state = S_POST;
                        s->left = (uint8_t)(1 + below(g, 3));
                } else {
                        s->state = S_TAIL;
                        s->left = (uint8_t)below(g, 2);
                }
                return true;
        case S_POST:
                browse_event(g, s, ev, ts);
                if (--s->left == 0)
                        s->state = S_REFUND;
                return true;
        case S_REFUND:
                fill_envelope(g, s, ev,
                              chance(g, 1.0 / 3) ? ND_EV_ORDER_CANCELLED
                                                 : ND_EV_ORDER_REFUNDED,
                              ts);
                set_order(g, ev, s);
                s->state = S_END;
                return true;
        case S_TAIL:
                if (s->left == 0) {
                        s->state = S_END;
                        return false;
                }
                browse_event(g, s, ev, ts);
                s->left--;
                return true;
        default:
                return false;
        }
}

/* ------------------------------------------------------------------ */
/* API                                                                 */

nd_gen_t *nd_gen_new(const nd_gen_opts_t *opts) {
        nd_gen_t *g = nd_calloc(1, sizeof(*g));
        g->o = *opts;
        g->rng = mix(opts->seed);
        g->skus = nd_malloc((size_t)opts->products * sizeof(*g->skus));
        for (int p = 0; p < opts->products; p++)
                snprintf(g->skus[p], sizeof(g->skus[p]), "SKU-%05d", p);
        g->slots = nd_calloc((size_t)opts->sessions, sizeof(*g->slots));
        for (int i = 0; i < opts->sessions; i++)
                sess_start(g, &g->slots[i]);
        return g;
}

void nd_gen_destroy(nd_gen_t *g) {
        if (!g)
                return;
        nd_free(g->slots);
        nd_free(g->skus);
        nd_free(g);
}

static int64_t next_time(nd_gen_t *g) {
        int64_t ts;
        if (g->o.wall_clock)
                ts = nd_clock_wall_ms();
        else
                ts = g->o.start_ms +
                     (int64_t)((double)g->n * 1000.0 / g->o.sim_rate);
        return ts;
}

void nd_gen_next(nd_gen_t *g, nd_event_t *ev) {
        int64_t ts = next_time(g);
        struct sess *s = &g->slots[below(g, (uint32_t)g->o.sessions)];

        /* Draw lateness before the session's own draws so the share does
         * not depend on the path a session takes. */
        if (chance(g, g->o.ooo_share))
                ts -= 1 + (int64_t)(rnd(g) % (uint64_t)g->o.max_lateness_ms);
        while (!sess_step(g, s, ev, ts))
                sess_start(g, s);
        if (s->state == S_END)
                sess_start(g, s);
        g->n++;
}

uint64_t nd_gen_count(const nd_gen_t *g) {
        return g->n;
}

int nd_gen_product_count(const nd_gen_t *g) {
        return g->o.products;
}

void nd_gen_product(nd_gen_t *g, int i, nd_product_rec_t *prod) {
        uint32_t p = (uint32_t)i;
        uint64_t h = mix(g->o.seed ^ (0xca7aULL << 40) ^ p);
        const char *cat = product_category(p);
        int cnt = (int)(h % 5), n;

        memset(prod, 0, sizeof(*prod));
        prod->sku = (nd_str_t){g->skus[p], (uint32_t)strlen(g->skus[p])};
        n = snprintf(g->name, sizeof(g->name), "%s item %d", cat, i);
        prod->name = (nd_str_t){g->name, (uint32_t)n};
        prod->category = (nd_str_t){cat, (uint32_t)strlen(cat)};
        prod->price_cents = product_price(g, p);
        prod->has_price = true;
        prod->currency = (nd_str_t){"EUR", 3};
        prod->in_stock = (h >> 8) % 100 >= 5; /* 95 % in stock */
        /* Complements: products of the next category, so an order of
         * shoes recommends apparel and so on; never the product itself. */
        for (int k = 0; k < cnt; k++) {
                uint32_t c =
                    (uint32_t)((p + 1 +
                                CATEGORY_CNT *
                                    (uint64_t)((h >> (16 + 8 * k)) % 16)) %
                               (uint64_t)g->o.products);
                bool dup = c == p;
                for (uint32_t j = 0; j < prod->complement_cnt; j++)
                        dup |= g->complements[j].p == g->skus[c];
                if (dup)
                        continue;
                g->complements[prod->complement_cnt++] =
                    (nd_str_t){g->skus[c], (uint32_t)strlen(g->skus[c])};
        }
        prod->complements = g->complements;
}

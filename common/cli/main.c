/*
 * main.c — the `nudge` command line.
 *
 * Exit status: 0 success; 1 the engine failed while running; 2 bad usage
 * or bad configuration (the message names the file, line and key), so that
 * an orchestrator can tell a crash loop from a deployment mistake; 3 run
 * stopped at an input record that cannot be used (errors.tolerance: stop).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "demo.h"
#include "kio.h"
#include "log.h"
#include "mem.h"
#include "registry.h"
#include "replay.h"
#include "runtime.h"

#define EXIT_RUNTIME 1
#define EXIT_CONFIG  2
#define EXIT_INPUT   3 /* errors.tolerance: stop, at a record */

static volatile sig_atomic_t stop_requested;
static nd_runtime_t *volatile running;

static void on_signal(int sig) {
        static const char again[] =
            "nudge: stopping (commits what is in flight); signal again to "
            "force\n";
        if (stop_requested) {
                /* A second signal: the operator wants out now. */
                _exit(128 + sig);
        }
        stop_requested = 1;
        if (running)
                nd_runtime_request_stop(running);
        if (write(2, again, sizeof(again) - 1) < 0)
                return;
}

static void install_signals(void) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

static void usage(FILE *out) {
        fprintf(out,
                "Usage: nudge <command> [options]\n"
                "\n"
                "nudge is a real-time journey-trigger engine on Kafka: it "
                "reads clickstream,\n"
                "cart and purchase events and publishes actions (abandoned "
                "cart, upsell, ...).\n"
                "\n"
                "Commands:\n"
                "  run -c FILE           run the engine\n"
                "  check-config -c FILE  validate a configuration and exit "
                "(-v: print it)\n"
                "  demo [-c FILE]        run on the embedded broker with "
                "synthetic traffic\n"
                "                        [--duration 20s] [--rate 2000] "
                "[--customers 5000]\n"
                "  replay -c FILE --input EVENTS [--input EVENTS...] "
                "[--catalog PRODUCTS]\n"
                "         [--end-time T] [--partitions N] [--output FILE|-] "
                "[--dead-letter FILE]\n"
                "                        run the triggers over files of "
                "events (JSON lines or\n"
                "                        Avro container files) on event "
                "time only; several\n"
                "                        inputs merge by timestamp, ties "
                "in --input order;\n"
                "                        actions as JSON lines (T: ms or "
                "ISO 8601 UTC)\n"
                "    --partitions N      replay as live runs N tasks (N = "
                "the event topics'\n"
                "                        partition count, 1..%d): each "
                "event goes to the task\n"
                "                        of its customer key (murmur2, as "
                "the producers); a\n"
                "                        task merges its lanes, one per "
                "input and topic, each\n"
                "                        in file order, by the event's "
                "timestamp field; ties\n"
                "                        as live breaks them: lower topic "
                "index, i.e.\n"
                "                        clickstream, then cart, then "
                "purchase; then input\n"
                "                        order. Actions of task 0 first, "
                "then 1, ...; not\n"
                "                        with --input - (inputs are read "
                "once per task)\n"
                "  config-doc            print the configuration reference "
                "(Markdown)\n"
                "\n"
                "Options:\n"
                "  -c, --config FILE     the YAML configuration "
                "(docs/configuration.md)\n"
                "  -v, --verbose         check-config: print the effective "
                "configuration\n"
                "  -h, --help            this text\n"
                "  -V, --version         the version\n"
                "\n"
                "With no kafka.bootstrap.servers (nor "
                "NUDGE_KAFKA_BOOTSTRAP_SERVERS), nudge starts\n"
                "an embedded broker (librdkafka's mock cluster) and logs its "
                "address.\n"
                "\n"
                "Exit status: 0 ok, 1 runtime failure, 2 bad usage or "
                "configuration, 3 stopped\n"
                "at an input record that cannot be used (errors.tolerance: "
                "stop).\n",
                ND_REPLAY_MAX_PARTITIONS);
}

static int load(const char *path, nd_config_t **cfgp) {
        char errstr[1024];
        nd_err_t err = nd_config_load(path, nd_processor_find, cfgp, errstr,
                                      sizeof(errstr));
        if (err != ND_OK) {
                fprintf(stderr, "nudge: %s\n", errstr);
                return EXIT_CONFIG;
        }
        nd_log_setup((nd_log_level_t)(*cfgp)->log_level, (*cfgp)->log_json);
        return 0;
}

static bool http_ready(void *arg, char *reason, size_t size) {
        nd_runtime_t *rt = arg;
        if (nd_runtime_ready(rt))
                return true;
        if (nd_runtime_paused(rt) > 0 && !nd_runtime_stopping(rt)) {
                snprintf(reason, size,
                         "input paused: %d partition(s) wait for a "
                         "transient error to clear (schema registry; see "
                         "the log)",
                         nd_runtime_paused(rt));
                return false;
        }
        snprintf(reason, size, "%s",
                 nd_runtime_stopping(rt)
                     ? "stopping"
                     : "waiting for partitions or restoring state");
        return false;
}

static bool http_health(void *arg, char *reason, size_t size) {
        nd_runtime_t *rt = arg;
        if (nd_runtime_healthy(rt))
                return true;
        snprintf(reason, size, "a worker stopped on a fatal error");
        return false;
}

static int cmd_run(const char *path) {
        nd_config_t *cfg = NULL;
        nd_kio_cluster_t *mc = NULL;
        nd_runtime_t *rt = NULL;
        nd_http_t *http = NULL;
        const char *bootstrap = NULL;
        char errstr[1024];
        nd_err_t err;
        int rc;

        if ((rc = load(path, &cfg)) != 0)
                return rc;
        nd_log_info("main", "nudge %s starting (librdkafka %s, %s, config %s)",
                    ND_VERSION, nd_kio_version(), nd_mem_allocator(),
                    path ? path : "(defaults)");
        install_signals();
        if (nd_config_is_embedded(cfg)) {
                if (nd_embedded_start(cfg, &mc, errstr, sizeof(errstr)) !=
                    ND_OK) {
                        nd_log_error("main", "%s", errstr);
                        rc = EXIT_RUNTIME;
                        goto out;
                }
                bootstrap = nd_kio_cluster_bootstraps(mc);
        }
        rt = nd_runtime_new(cfg, bootstrap);
        running = rt;
        err = nd_runtime_start(rt, errstr, sizeof(errstr));
        if (err != ND_OK) {
                nd_log_error("main", "%s", errstr);
                rc = err == ND_ERR_CONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
                nd_runtime_wait(rt, (int)cfg->shutdown_timeout_ms);
                goto out;
        }
        if (cfg->http_listen && *cfg->http_listen) {
                err = nd_http_start(cfg->http_listen, nd_runtime_metrics(rt),
                                    http_ready, http_health, rt, &http, errstr,
                                    sizeof(errstr));
                if (err != ND_OK) {
                        nd_log_error("main", "http.listen: %s", errstr);
                        rc = err == ND_ERR_CONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
                        nd_runtime_request_stop(rt);
                        nd_runtime_wait(rt, (int)cfg->shutdown_timeout_ms);
                        goto out;
                }
                nd_log_info("main",
                            "HTTP on %s (port %d): /metrics, /healthz, "
                            "/readyz",
                            cfg->http_listen, nd_http_port(http));
        }
        if (stop_requested)
                nd_runtime_request_stop(rt);
        err = nd_runtime_wait(rt, (int)cfg->shutdown_timeout_ms);
        if (err == ND_ERR_TIMEOUT) {
                /* WHY _exit: a worker is stuck in librdkafka past the
                 * shutdown bound; tearing down under it would block too. */
                nd_log_error("main", "shutdown exceeded %lld ms: exiting now",
                             (long long)cfg->shutdown_timeout_ms);
                _exit(EXIT_RUNTIME);
        }
        rc = err == ND_OK               ? 0
             : err == ND_ERR_INPUT_STOP ? EXIT_INPUT
                                        : EXIT_RUNTIME;
        if (rc == 0) {
                nd_runtime_stats_t st;
                nd_runtime_stats(rt, &st);
                nd_log_info("main",
                            "stopped cleanly: %llu records in, %llu out, %llu "
                            "commits",
                            (unsigned long long)st.records_in,
                            (unsigned long long)st.records_out,
                            (unsigned long long)st.commits);
        }
out:
        running = NULL;
        nd_http_stop(http);
        nd_runtime_destroy(rt);
        nd_kio_cluster_destroy(mc);
        nd_config_destroy(cfg);
        return rc;
}

static int cmd_check(const char *path, bool verbose) {
        nd_config_t *cfg = NULL;
        int rc;
        if (!path) {
                fprintf(stderr, "nudge check-config: -c FILE is required\n");
                return EXIT_CONFIG;
        }
        if ((rc = load(path, &cfg)) != 0)
                return rc;
        if (verbose)
                nd_config_dump(stdout, cfg);
        printf("%s: ok (%d trigger%s, %s)\n", path, cfg->trigger_cnt,
               cfg->trigger_cnt == 1 ? "" : "s",
               nd_config_is_embedded(cfg)
                   ? "embedded broker"
                   : nd_config_kafka_get(cfg, "bootstrap.servers"));
        nd_config_destroy(cfg);
        return 0;
}

static const char *default_demo_config(void) {
        static const char *const paths[] = {"config/demo.yaml",
                                            ND_SOURCE_DIR "/config/demo.yaml",
                                            "/etc/nudge/demo.yaml", NULL};
        for (int i = 0; paths[i]; i++)
                if (access(paths[i], R_OK) == 0)
                        return paths[i];
        return NULL;
}

static int parse_ms(const char *s, int64_t *out) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || v < 0)
                return -1;
        if (!*end || !strcmp(end, "s"))
                *out = (int64_t)(v * 1000);
        else if (!strcmp(end, "ms"))
                *out = (int64_t)v;
        else if (!strcmp(end, "m"))
                *out = (int64_t)(v * 60000);
        else
                return -1;
        return 0;
}

static int cmd_replay(const char *path, nd_replay_opts_t *opts,
                      const char *end_time, const char *partitions) {
        nd_config_t *cfg = NULL;
        int rc;
        if (!path || opts->input_cnt == 0) {
                fprintf(stderr, "nudge replay: -c FILE and --input FILE are "
                                "required (see nudge --help)\n");
                return EXIT_CONFIG;
        }
        if (end_time) {
                if (nd_replay_parse_time(end_time, &opts->end_time) != 0) {
                        fprintf(stderr,
                                "nudge replay: --end-time: expected "
                                "milliseconds since the epoch or an ISO 8601 "
                                "UTC time such as 2026-11-22T10:00:00Z, got "
                                "'%s'\n",
                                end_time);
                        return EXIT_CONFIG;
                }
                opts->has_end = true;
        }
        if (partitions) {
                char *end;
                long n;
                errno = 0;
                n = strtol(partitions, &end, 10);
                if (end == partitions || *end || errno || n < 1 ||
                    n > ND_REPLAY_MAX_PARTITIONS) {
                        fprintf(stderr,
                                "nudge replay: --partitions: expected the "
                                "event topics' partition count, 1 to %d, "
                                "got '%s'\n",
                                ND_REPLAY_MAX_PARTITIONS, partitions);
                        return EXIT_CONFIG;
                }
                opts->partitions = (int)n;
        }
        if (!opts->output)
                opts->output = "-";
        if ((rc = load(path, &cfg)) != 0)
                return rc;
        rc = nd_replay_run(cfg, opts);
        nd_config_destroy(cfg);
        return rc;
}

static int cmd_demo(const char *path, const char *duration, long rate,
                    long customers) {
        nd_config_t *cfg = NULL;
        nd_demo_opts_t opts = {.duration_ms = 20000,
                               .rate = 2000,
                               .customers = 5000,
                               .seed = 42,
                               .stop = &stop_requested};
        int rc;
        if (duration && parse_ms(duration, &opts.duration_ms) != 0) {
                fprintf(stderr,
                        "nudge demo: --duration: expected a duration such as "
                        "30s or 2m, got '%s'\n",
                        duration);
                return EXIT_CONFIG;
        }
        if (rate <= 0 || rate > 20000) {
                fprintf(stderr,
                        "nudge demo: --rate: expected 1..20000 events/s, got "
                        "%ld\n",
                        rate);
                return EXIT_CONFIG;
        }
        if (customers <= 0 || customers > 10000000) {
                fprintf(stderr,
                        "nudge demo: --customers: expected 1..10000000, got "
                        "%ld\n",
                        customers);
                return EXIT_CONFIG;
        }
        opts.rate = (int)rate;
        opts.customers = (int)customers;
        if (!path && !(path = default_demo_config())) {
                fprintf(stderr, "nudge demo: no config/demo.yaml found; give "
                                "one with -c FILE\n");
                return EXIT_CONFIG;
        }
        if ((rc = load(path, &cfg)) != 0)
                return rc;
        if (!nd_config_is_embedded(cfg)) {
                fprintf(stderr,
                        "nudge demo: %s sets kafka.bootstrap.servers; "
                        "the demo runs on the embedded broker only\n",
                        path);
                nd_config_destroy(cfg);
                return EXIT_CONFIG;
        }
        install_signals();
        rc = nd_demo_run(cfg, &opts);
        nd_config_destroy(cfg);
        return rc;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
            {"config", required_argument, NULL, 'c'},
            {"verbose", no_argument, NULL, 'v'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {"duration", required_argument, NULL, 'd'},
            {"rate", required_argument, NULL, 'r'},
            {"customers", required_argument, NULL, 'n'},
            {"input", required_argument, NULL, 'i'},
            {"output", required_argument, NULL, 'o'},
            {"catalog", required_argument, NULL, 'k'},
            {"end-time", required_argument, NULL, 'e'},
            {"dead-letter", required_argument, NULL, 'D'},
            {"partitions", required_argument, NULL, 'P'},
            {NULL, 0, NULL, 0}};
        const char *cmd = NULL, *path = NULL, *duration = NULL;
        const char *end_time = NULL, *partitions = NULL;
        nd_replay_opts_t ropts = {0};
        /* --input may be repeated (replay merges the files) */
        static const char *inputs[ND_REPLAY_MAX_INPUTS];
        long rate = 2000, customers = 5000;
        bool verbose = false;
        int opt;

        if (argc > 1 && argv[1][0] != '-') {
                cmd = argv[1];
                argv++;
                argc--;
        }
        while ((opt = getopt_long(argc, argv, "c:vhV", longopts, NULL)) != -1) {
                switch (opt) {
                case 'c':
                        path = optarg;
                        break;
                case 'v':
                        verbose = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("nudge %s (librdkafka %s)\n", ND_VERSION,
                               nd_kio_version());
                        return 0;
                case 'd':
                        duration = optarg;
                        break;
                case 'r':
                        rate = strtol(optarg, NULL, 10);
                        break;
                case 'n':
                        customers = strtol(optarg, NULL, 10);
                        break;
                case 'i':
                        if (ropts.input_cnt == ND_REPLAY_MAX_INPUTS) {
                                fprintf(stderr,
                                        "nudge replay: at most %d --input "
                                        "files\n",
                                        ND_REPLAY_MAX_INPUTS);
                                return EXIT_CONFIG;
                        }
                        inputs[ropts.input_cnt++] = optarg;
                        ropts.inputs = inputs;
                        break;
                case 'o':
                        ropts.output = optarg;
                        break;
                case 'k':
                        ropts.catalog = optarg;
                        break;
                case 'e':
                        end_time = optarg;
                        break;
                case 'D':
                        ropts.dead_letter = optarg;
                        break;
                case 'P':
                        partitions = optarg;
                        break;
                default:
                        usage(stderr);
                        return EXIT_CONFIG;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "nudge: unexpected argument '%s'\n",
                        argv[optind]);
                return EXIT_CONFIG;
        }
        if (!cmd) {
                usage(stderr);
                return EXIT_CONFIG;
        }
        if (!strcmp(cmd, "run"))
                return cmd_run(path);
        if (!strcmp(cmd, "check-config"))
                return cmd_check(path, verbose);
        if (!strcmp(cmd, "demo"))
                return cmd_demo(path, duration, rate, customers);
        if (!strcmp(cmd, "replay"))
                return cmd_replay(path, &ropts, end_time, partitions);
        if (!strcmp(cmd, "config-doc")) {
                nd_config_write_doc(stdout, nd_processors);
                return 0;
        }
        if (!strcmp(cmd, "help")) {
                usage(stdout);
                return 0;
        }
        fprintf(stderr, "nudge: unknown command '%s' (see nudge --help)\n",
                cmd);
        return EXIT_CONFIG;
}

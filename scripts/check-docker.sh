#!/usr/bin/env bash
# check-docker.sh — checks docker/ (image, compose file, Kubernetes
# manifests) on a machine without a Docker engine, as CI does.
#
#   scripts/check-docker.sh [--build-dir DIR] [--offline]
#
# What it checks (docker/README.md says what it cannot):
#   Dockerfile   every apt package of both stages exists in Debian bookworm
#                and each stage's list installs into an empty root (apt's
#                resolver, simulated); the build stage provides every
#                pkg-config module CMake asks for; the runtime stage provides
#                every shared library `ldd` lists for the built binaries;
#                the build's install steps are replayed into a staging root
#                and the image's config passes `nudge check-config` there.
#   Kubernetes   docker/k8s/*.yaml validated (strict) by kubernetes-validate
#                from PyPI against Kubernetes 1.29 and 1.37, the KEDA
#                ScaledObject (a CRD) against a JSON schema of its essential
#                fields written here, both validators shown to reject a
#                broken copy, and the manifests checked against each other
#                (selectors, ports, probes, grace period > shutdown bound).
#   compose      docker/compose.yaml parsed and checked (services, images,
#                build context, environment, depends_on, $ escaping).
#
# It installs what it needs (a Python venv under .cache/check-docker) and
# builds the binaries the way the Dockerfile does into
# .cache/check-docker/build unless --build-dir names an existing build
# (any non-sanitizer build of the `nudge` target). Bounded: every step has
# a timeout, the whole well under 5 minutes once the build exists.
# --offline: no pip and no apt-get update (use what is installed).
# Exit status: 0 when every check passed, 1 otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

cache="$here/.cache/check-docker"
build=""
offline=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$(cd "$2" && pwd); shift 2 ;;
    --offline) offline=1; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "check-docker: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$cache"
say() { printf 'check-docker: %s\n' "$*"; }

# --- Python with kubernetes-validate (bundles its schemas: offline after).
venv="$cache/venv"
kv_version="1.37.0"
if [ ! -x "$venv/bin/kubernetes-validate" ] ||
   ! "$venv/bin/pip" show -q "kubernetes-validate" >/dev/null 2>&1; then
  [ $offline = 0 ] || { say "no venv and --offline"; exit 1; }
  say "installing kubernetes-validate $kv_version into $venv"
  python3 -m venv "$venv"
  timeout 180 "$venv/bin/pip" install -q --disable-pip-version-check \
    "kubernetes-validate==$kv_version" jsonschema pyyaml
fi

# --- apt's package lists, for apt-cache and the resolver.
if ! grep -q 'VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
  say "this machine is not Debian bookworm: package checks would not speak for the image"
  exit 1
fi
if [ -z "$(apt-cache policy librdkafka1 2>/dev/null | grep 'Candidate: [0-9]')" ]; then
  [ $offline = 0 ] || { say "apt lists empty and --offline"; exit 1; }
  say "apt-get update"
  timeout 120 apt-get update -qq
fi

# --- The binaries, built as the Dockerfile builds them.
if [ -z "$build" ]; then
  build="$cache/build"
  say "building nudge like docker/Dockerfile into $build"
  timeout 60 cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DND_TESTS=OFF -DND_BENCH=OFF >/dev/null
  timeout 900 cmake --build "$build" -j2 >/dev/null
fi
[ -x "$build/nudge" ] || { say "no $build/nudge"; exit 1; }

exec timeout 240 "$venv/bin/python" - "$here" "$build" "$cache" <<'PY'
"""The checks themselves; each prints one line and counts."""
import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import jsonschema
import yaml

ROOT, BUILD, CACHE = sys.argv[1:4]
DOCKER = os.path.join(ROOT, "docker")
results = []


def check(name, ok, detail=""):
    results.append(ok)
    line = ("ok    " if ok else "FAIL  ") + name
    if detail and not ok:
        line += "\n        " + detail.replace("\n", "\n        ")
    print(line, flush=True)
    return ok


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


# ---------------------------------------------------------------- Dockerfile
def dockerfile_stages(path):
    """[(from, name, [(instruction, args)])] with continuations joined."""
    lines, cur = [], ""
    for raw in open(path):
        s = raw.rstrip("\n")
        if not cur and (not s.strip() or s.lstrip().startswith("#")):
            continue
        if s.lstrip().startswith("#"):
            continue  # comment inside a continued instruction
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        lines.append(cur + s)
        cur = ""
    stages, args = [], {}
    for line in lines:
        ins, _, rest = line.strip().partition(" ")
        ins = ins.upper()
        if ins == "ARG" and not stages:
            k, _, v = rest.partition("=")
            args[k.strip()] = v.strip()
        if ins == "FROM":
            img = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""),
                         rest.split()[0])
            parts = rest.split()
            name = parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None
            stages.append((img, name, []))
        elif stages:
            stages[-1][2].append((ins, rest.strip()))
    return stages


def apt_packages(instrs):
    pkgs = []
    for ins, rest in instrs:
        if ins != "RUN":
            continue
        lex = shlex.shlex(rest, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        segs, cur = [], []
        for t in lex:
            if t in ("&&", ";", "||", "|"):
                segs.append(cur)
                cur = []
            else:
                cur.append(t)
        for toks in segs + [cur]:
            if "apt-get" in toks and "install" in toks:
                after = toks[toks.index("install") + 1:]
                pkgs += [t for t in after if not t.startswith("-")]
    return pkgs


def simulate(pkgs):
    """apt's resolver installing pkgs into an empty root: (ok, set, out)."""
    empty = os.path.join(CACHE, "empty-dpkg-status")
    open(empty, "w").close()
    r = run(["apt-get", "-s", "-o", "Dir::State::status=" + empty,
             "-o", "Debug::NoLocking=1", "install", "--no-install-recommends"]
            + pkgs)
    inst = {l.split()[1] for l in r.stdout.splitlines() if l.startswith("Inst ")}
    return r.returncode == 0, inst, r.stdout + r.stderr


def owner(path):
    """The Debian package that ships path (symlinks resolved), or None."""
    for p in (path, os.path.realpath(path)):
        r = run(["dpkg", "-S", p])
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
        # /lib and /usr/lib are one on merged-/usr systems
        alt = p.replace("/usr/lib/", "/lib/", 1) if p.startswith("/usr/lib/") \
            else p.replace("/lib/", "/usr/lib/", 1)
        r = run(["dpkg", "-S", alt])
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    return None


df = os.path.join(DOCKER, "Dockerfile")
stages = dockerfile_stages(df)
check("Dockerfile has a build stage on debian:bookworm and a runtime stage "
      "on debian:bookworm-slim",
      len(stages) == 2 and stages[0][0] == "debian:bookworm"
      and stages[1][0] == "debian:bookworm-slim",
      "stages: %s" % [s[:2] for s in stages])
build_pkgs = apt_packages(stages[0][2]) if stages else []
run_pkgs = apt_packages(stages[-1][2]) if stages else []

missing = [p for p in build_pkgs + run_pkgs
           if run(["apt-cache", "show", "--no-all-versions", p]).returncode]
check("every apt package of the Dockerfile (%d) exists in Debian bookworm"
      % len(build_pkgs + run_pkgs), build_pkgs and run_pkgs and not missing,
      "missing: %s" % missing)

ok_b, build_set, out_b = simulate(build_pkgs)
check("build stage packages install together into an empty root "
      "(%d packages)" % len(build_set), ok_b, out_b[-2000:])
ok_r, run_set, out_r = simulate(run_pkgs)
check("runtime stage packages install together into an empty root "
      "(%d packages)" % len(run_set), ok_r, out_r[-2000:])
check("runtime stage installs no -dev package",
      not [p for p in run_set if p.endswith("-dev")],
      str([p for p in run_set if p.endswith("-dev")]))

# Every pkg-config module the build asks for, mapped to its package.
mods = set()
for f in [os.path.join(ROOT, "CMakeLists.txt")] + [
        os.path.join(ROOT, "cmake", x) for x in sorted(os.listdir(
            os.path.join(ROOT, "cmake")))]:
    if f.endswith((".txt", ".cmake")):
        for m in re.finditer(r"pkg_check_modules\(\s*\w+\s+(?:REQUIRED\s+)?"
                             r"(?:IMPORTED_TARGET\s+)?([\w.+-]+)", open(f).read()):
            mods.add(m.group(1))
unprovided = []
for m in sorted(mods):
    r = run(["pkg-config", "--path", m])
    pkg = owner(r.stdout.strip()) if r.returncode == 0 else None
    if pkg is None or pkg not in build_set:
        unprovided.append("%s (%s)" % (m, pkg or "not installed here"))
check("build stage provides every pkg-config module CMake needs: "
      + " ".join(sorted(mods)), mods and not unprovided,
      "not in the build stage: %s" % unprovided)

runs = " ".join(a for i, a in stages[0][2] if i == "RUN") if stages else ""
check("build stage configures without tests and benchmarks",
      "-DND_TESTS=OFF" in runs and "-DND_BENCH=OFF" in runs)

# Shared libraries of the binaries the image ships.
bins = [os.path.join(BUILD, "nudge")]
for dp, _, fs in os.walk(BUILD):
    if "nudge-gen" in fs and os.access(os.path.join(dp, "nudge-gen"), os.X_OK):
        bins.append(os.path.join(dp, "nudge-gen"))
        break
uncovered, libs = [], set()
for b in bins:
    r = run(["ldd", b])
    for line in r.stdout.splitlines():
        m = re.search(r"=>\s+(/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if not m:
            continue
        pkg = owner(m.group(1))
        libs.add(pkg or m.group(1))
        if pkg is None or pkg not in run_set:
            uncovered.append("%s (%s)" % (m.group(1), pkg))
check("runtime stage provides every shared library of %s (%s)"
      % (", ".join(os.path.basename(b) for b in bins),
         " ".join(sorted(libs))), bins and not uncovered,
      "not installed by the runtime stage: %s" % uncovered)
if len(bins) == 1:
    print("note  no nudge-gen built yet: the image will not contain it")

runtime = dict()
for ins, rest in (stages[-1][2] if stages else []):
    runtime.setdefault(ins, []).append(rest)
user = (runtime.get("USER") or ["root"])[-1].split(":")[0]
check("runtime stage runs as a numeric non-root user",
      user.isdigit() and int(user) != 0, "USER %s" % user)
check("runtime stage exposes 9464 and runs `nudge run -c /etc/nudge/nudge.yaml`",
      "9464" in " ".join(runtime.get("EXPOSE", []))
      and [json.loads(x) for x in runtime.get("ENTRYPOINT", [])] == [["nudge"]]
      and [json.loads(x) for x in runtime.get("CMD", [])]
      == [["run", "-c", "/etc/nudge/nudge.yaml"]])
check("runtime stage copies the build stage's staging root",
      any(r.startswith("--from=build /out/ /") for r in runtime.get("COPY", [])))

# Replay the build stage's install steps into a staging root, as the image
# lays it out, and run the binary on the image's configuration there.
stage = tempfile.mkdtemp(prefix="nudge-image-", dir=CACHE)
try:
    os.makedirs(stage + "/usr/local/bin")
    os.makedirs(stage + "/usr/share/nudge/schemas")
    os.makedirs(stage + "/etc/nudge")
    for b in bins:
        shutil.copy2(b, stage + "/usr/local/bin/")
    avsc = [f for f in os.listdir(ROOT + "/schemas") if f.endswith(".avsc")]
    for f in avsc:
        shutil.copy2(ROOT + "/schemas/" + f, stage + "/usr/share/nudge/schemas/")
    shutil.copy2(DOCKER + "/nudge.yaml", stage + "/etc/nudge/nudge.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUDGE_")}
    env["NUDGE_SCHEMA_DIR"] = stage + "/usr/share/nudge/schemas"
    r = run([stage + "/usr/local/bin/nudge", "check-config", "-c",
             stage + "/etc/nudge/nudge.yaml"], env=env)
    check("the image's /etc/nudge/nudge.yaml passes `nudge check-config` "
          "(%d schemas staged)" % len(avsc),
          r.returncode == 0 and avsc, r.stdout + r.stderr)
    cfg_img = yaml.safe_load(open(DOCKER + "/nudge.yaml"))
    check("the image's config points schema.dir at /usr/share/nudge/schemas",
          (cfg_img.get("schema") or {}).get("dir") == "/usr/share/nudge/schemas")
finally:
    shutil.rmtree(stage, ignore_errors=True)


# ---------------------------------------------------------------- Kubernetes
K8S = os.path.join(DOCKER, "k8s")
CORE_VERSIONS = ["1.29.0", "1.37.0"]
docs = {}  # kind -> (file, doc)
files = sorted(f for f in os.listdir(K8S) if f.endswith((".yaml", ".yml")))
for f in files:
    for d in yaml.safe_load_all(open(os.path.join(K8S, f))):
        if d:
            docs.setdefault(d["kind"], []).append((f, d))
crd_kinds = {"ScaledObject"}
core_files = sorted({f for k, v in docs.items() if k not in crd_kinds
                     for f, _ in v})
kv = os.path.join(os.path.dirname(sys.executable), "kubernetes-validate")
for ver in CORE_VERSIONS:
    r = run([kv, "--strict", "-k", ver] + [os.path.join(K8S, f)
                                         for f in core_files])
    unknown = [l for l in r.stdout.splitlines() + r.stderr.splitlines()
               if "Couldn't find schema" in l]
    check("kubernetes-validate --strict (Kubernetes %s): %s"
          % (ver, " ".join(core_files)),
          r.returncode == 0 and not unknown, r.stdout + r.stderr)

# Negative control: the validator must reject a misspelt field.
bad = copy.deepcopy(docs["StatefulSet"][0][1])
c0 = bad["spec"]["template"]["spec"]["containers"][0]
c0["livenessProbe"]["httpGett"] = c0["livenessProbe"].pop("httpGet")
with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=CACHE) as t:
    yaml.safe_dump(bad, t)
    t.flush()
    r = run([kv, "--strict", "-k", CORE_VERSIONS[-1], t.name])
    check("kubernetes-validate rejects a StatefulSet with a misspelt field",
          r.returncode != 0, r.stdout + r.stderr)

# KEDA's CRD is not in kubernetes-validate: its essential fields, from the
# ScaledObject spec (keda.sh/v1alpha1) and the kafka scaler's metadata.
KEDA_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object", "additionalProperties": False,
                    "required": ["name"],
                    "properties": {"name": {"type": "string"},
                                   "kind": {"type": "string"},
                                   "apiVersion": {"type": "string"},
                                   "envSourceContainerName": {"type": "string"}}},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {"type": "object"},
                "advanced": {
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "scalingModifiers": {"type": "object"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object", "additionalProperties": False,
                            "properties": {"name": {"type": "string"},
                                           "behavior": {"type": "object"}}}}},
                "triggers": {
                    "type": "array", "minItems": 1,
                    "items": {
                        "type": "object", "additionalProperties": False,
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "useCachedMetrics": {"type": "boolean"},
                            "metricType": {"enum": ["AverageValue", "Value",
                                                    "Utilization"]},
                            "authenticationRef": {"type": "object",
                                                  "required": ["name"]},
                            # KEDA reads metadata as map[string]string.
                            "metadata": {"type": "object",
                                         "additionalProperties":
                                             {"type": "string"}}},
                        "if": {"properties": {"type": {"const": "kafka"}}},
                        "then": {"properties": {"metadata": {
                            "required": ["bootstrapServers", "consumerGroup"],
                            "properties": {
                                "lagThreshold": {"pattern": "^[0-9]+$"},
                                "activationLagThreshold":
                                    {"pattern": "^[0-9]+$"},
                                "offsetResetPolicy":
                                    {"enum": ["earliest", "latest"]},
                                "allowIdleConsumers":
                                    {"enum": ["true", "false"]},
                                "excludePersistentLag":
                                    {"enum": ["true", "false"]}}}}}}}}}}}
so_file, so = docs.get("ScaledObject", [(None, None)])[0]
errs = [] if so is None else [
    "%s: %s" % ("/".join(map(str, e.absolute_path)), e.message)
    for e in jsonschema.Draft202012Validator(KEDA_SCHEMA).iter_errors(so)]
check("KEDA ScaledObject (%s) matches the schema of its essential fields"
      % so_file, so is not None and not errs, "\n".join(errs))
if so is not None:
    bad = copy.deepcopy(so)
    bad["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 100
    bad["spec"]["maxReplicas"] = 3
    check("the ScaledObject schema rejects a number in metadata and an "
          "unknown field",
          len(list(jsonschema.Draft202012Validator(KEDA_SCHEMA)
                   .iter_errors(bad))) == 2)

# The manifests against each other and against what the issue asks.
sts = docs["StatefulSet"][0][1]
pod = sts["spec"]["template"]
c = pod["spec"]["containers"][0]
labels = pod["metadata"]["labels"]
cm = docs["ConfigMap"][0][1]
cfg = yaml.safe_load(cm["data"]["nudge.yaml"])
flat = {}


def flatten(d, pre=""):
    for k, v in d.items():
        if isinstance(v, dict):
            flatten(v, pre + k + ".")
        else:
            flat[pre + k] = v


flatten(cfg)


def duration_s(v):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?", str(v))
    mult = {"ms": .001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: .001}
    return float(m.group(1)) * mult[m.group(2)]


shutdown = duration_s(flat.get("processing.shutdown_timeout", "10s"))
grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
check("terminationGracePeriodSeconds (%ss) exceeds processing.shutdown_timeout "
      "(%ss) with margin" % (grace, shutdown), grace >= shutdown + 10)
env = {e["name"]: e for e in c.get("env", [])}
gid = env.get("NUDGE_KAFKA_GROUP_INSTANCE_ID", {})
check("group.instance.id comes from the pod name (downward API)",
      gid.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
      == "metadata.name")
ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
listen_port = int(str(flat.get("http.listen", "0.0.0.0:9464")).rsplit(":", 1)[1])
check("container port 'metrics' is http.listen's port (%d)" % listen_port,
      ports.get("metrics") == listen_port)
probes = {k: c.get(k, {}).get("httpGet", {}) for k in
          ("livenessProbe", "readinessProbe")}
check("liveness probes /healthz and readiness probes /readyz on 'metrics'",
      probes["livenessProbe"].get("path") == "/healthz"
      and probes["readinessProbe"].get("path") == "/readyz"
      and all(p.get("port") in ("metrics", listen_port)
              for p in probes.values()))
sc, psc = c.get("securityContext", {}), pod["spec"].get("securityContext", {})
check("securityContext: non-root, read-only root, no capabilities, "
      "no privilege escalation",
      (psc.get("runAsNonRoot") or sc.get("runAsNonRoot"))
      and sc.get("readOnlyRootFilesystem") is True
      and sc.get("allowPrivilegeEscalation") is False
      and sc.get("capabilities", {}).get("drop") == ["ALL"])
req = c.get("resources", {}).get("requests", {})
check("resource requests set (cpu %s, memory %s)"
      % (req.get("cpu"), req.get("memory")), "cpu" in req and "memory" in req)
vols = {v["name"]: v for v in pod["spec"].get("volumes", [])}
mounted = [m for m in c.get("volumeMounts", [])
           if m["mountPath"] == "/etc/nudge"
           and vols.get(m["name"], {}).get("configMap", {}).get("name")
           == cm["metadata"]["name"]]
check("the ConfigMap is mounted at /etc/nudge", bool(mounted))
svc = docs["Service"][0][1]
check("the Service selects the pods and serves the metrics port",
      all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
      and any(p.get("targetPort") in ("metrics", listen_port)
              for p in svc["spec"]["ports"])
      and sts["spec"]["serviceName"] == svc["metadata"]["name"])
pdb = docs["PodDisruptionBudget"][0][1]
check("the PodDisruptionBudget selects the pods",
      all(labels.get(k) == v for k, v in
          pdb["spec"]["selector"]["matchLabels"].items()))
if so is not None:
    ref = so["spec"]["scaleTargetRef"]
    trig = so["spec"]["triggers"][0]
    check("the ScaledObject scales the StatefulSet on its consumer group's lag "
          "(1 <= replicas <= %s)" % so["spec"].get("maxReplicaCount"),
          ref.get("kind") == "StatefulSet"
          and ref["name"] == sts["metadata"]["name"]
          and trig["type"] == "kafka"
          and trig["metadata"]["consumerGroup"]
          == flat.get("kafka.group.id", flat.get("application.id", "nudge"))
          and 1 <= so["spec"].get("minReplicaCount", 0)
          <= so["spec"]["maxReplicaCount"])
with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=CACHE) as t:
    t.write(cm["data"]["nudge.yaml"])
    t.flush()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUDGE_")}
    r = run([os.path.join(BUILD, "nudge"), "check-config", "-c", t.name],
            env=env)
    check("the ConfigMap's nudge.yaml passes `nudge check-config`",
          r.returncode == 0, r.stdout + r.stderr)


# ------------------------------------------------------------------- compose
cf = os.path.join(DOCKER, "compose.yaml")
comp = yaml.safe_load(open(cf))
svcs = comp.get("services", {})
check("compose: services kafka, topics, nudge, nudge-gen",
      {"kafka", "topics", "nudge", "nudge-gen"} <= set(svcs), str(list(svcs)))
k = svcs.get("kafka", {})
kenv = k.get("environment", {})
check("compose: kafka is apache/kafka:3.9.1 in KRaft mode (broker,controller)",
      k.get("image") == "apache/kafka:3.9.1"
      and set(str(kenv.get("KAFKA_PROCESS_ROLES", "")).split(","))
      == {"broker", "controller"}
      and "KAFKA_CONTROLLER_QUORUM_VOTERS" in kenv
      and not any("ZOOKEEPER" in x for x in kenv))
problems = []
for name, s in svcs.items():
    if "image" not in s and "build" not in s:
        problems.append("%s: no image or build" % name)
    b = s.get("build")
    if b:
        ctx = os.path.normpath(os.path.join(DOCKER, b.get("context", ".")))
        if not os.path.isfile(os.path.join(ctx, b.get("dockerfile",
                                                      "Dockerfile"))):
            problems.append("%s: no Dockerfile at %s/%s"
                            % (name, ctx, b.get("dockerfile")))
    deps = s.get("depends_on", {})
    for dep, how in (deps.items() if isinstance(deps, dict)
                     else ((d, {}) for d in deps)):
        if dep not in svcs:
            problems.append("%s depends on unknown %s" % (name, dep))
        cond = (how or {}).get("condition", "service_started")
        if cond not in ("service_started", "service_healthy",
                        "service_completed_successfully"):
            problems.append("%s: bad condition %s" % (name, cond))
        if cond == "service_healthy" and "healthcheck" not in svcs.get(dep, {}):
            problems.append("%s waits for %s's health, which has no "
                            "healthcheck" % (name, dep))
    # Compose interpolates $VAR from the host; the scripts mean $$VAR.
    text = yaml.safe_dump(s.get("command", "")) + yaml.safe_dump(
        s.get("entrypoint", ""))
    lone = re.findall(r"(?<!\$)\$(?!\$)\{?\w+", text.replace("$$", ""))
    if lone:
        problems.append("%s: unescaped %s (write $$)" % (name, lone))
check("compose: every service has an image or a build whose Dockerfile "
      "exists, depends_on is consistent, shell $ are escaped",
      not problems, "\n".join(problems))
for name in ("nudge", "nudge-gen"):
    e = svcs.get(name, {}).get("environment", {})
    check("compose: %s gets NUDGE_KAFKA_BOOTSTRAP_SERVERS=kafka:9092" % name,
          e.get("NUDGE_KAFKA_BOOTSTRAP_SERVERS") == "kafka:9092")
n = svcs.get("nudge", {})
check("compose: nudge publishes 9464, runs read-only, stops within 30s",
      any(str(p).endswith(":9464") for p in n.get("ports", []))
      and n.get("read_only") is True
      and duration_s(n.get("stop_grace_period", "10s")) > shutdown)


# ------------------------------------------------------------- alert rules
ops = os.path.join(ROOT, "docs", "operations.md")
if os.path.exists(ops):
    text = open(ops).read()
    blocks = [yaml.safe_load(b) for b in
              re.findall(r"```yaml\n(groups:.*?)```", text, re.S)]
    rules = [r for b in blocks for g in b["groups"] for r in g["rules"]]
    named = set(re.findall(r"`(nudge_\w+)", text))
    used = {m for r in rules for m in re.findall(r"nudge_\w+", r["expr"])}
    used = {re.sub(r"_(bucket|sum|count)$", "", m)
            if m.startswith("nudge_transaction_commit_seconds") else m
            for m in used}
    check("docs/operations.md: %d alerting rules parse, each with alert, "
          "expr, for and a severity, on documented metrics" % len(rules),
          rules and all({"alert", "expr", "for"} <= set(r)
                        and "severity" in r.get("labels", {}) for r in rules)
          and used <= named, "undocumented: %s" % (used - named))

failed = results.count(False)
print("check-docker: %s" % ("all %d checks passed" % len(results) if not failed
                            else "%d of %d checks FAILED" % (failed,
                                                             len(results))))
sys.exit(1 if failed else 0)
PY

#!/usr/bin/env bash
# Installs the Debian 12 packages ringcast needs to build, test and benchmark. Idempotent and
# silent when everything is already there. Usage: tools/deps.sh [build|test|bench]
# (build: what `tools/run-server`, the presets (`cmake --preset release`, README "Building and
# testing by hand") and the plain build (`cmake -S . -B build -DCMAKE_BUILD_TYPE=Release`)
# need; test: also what `tools/test` runs, below; bench: the suite in `bench/run`).
# Installing starts no system service and leaves none enabled for boot (tools/hold-services):
# every test starts throwaway servers of its own.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# g++, cmake, pkg-config, git and the -dev libraries: every build (`tools/run-server`, the
# presets, the plain build). ninja-build: the presets (`cmake --preset ...`, tools/run-server,
# tools/test). make: the plain build (`cmake -S . -B build -DCMAKE_BUILD_TYPE=Release`, which
# tools/test runs too), whose default generator is Unix Makefiles; minbase Debian has no make.
# libcurl4-openssl-dev: the notifier's webhook sink (notify/webhook_sink.cc).
# librabbitmq-dev: --amqp, the background job publisher (notify/amqp_publisher.cc).
# libjpeg-dev, libpng-dev: thumbnails of uploaded images (core/media/thumbnail.h).
# libgif-dev, libwebp-dev: thumbnails of GIF and WebP uploads (core/media/decoders.h; the unit
# tests make their GIF and WebP fixtures with the same libraries' encoders).
# zlib1g-dev: WebSocket permessage-deflate (proto/ws_deflate.h, --ws-deflate).
# libpugixml-dev: the S3 client's XML answers (files/s3_client.cc).
build_packages=(g++ cmake ninja-build make pkg-config git liburing-dev libsimdjson-dev
                libmimalloc-dev libssl-dev libcli11-dev libgtest-dev libbenchmark-dev
                libsqlite3-dev libpq-dev libhiredis-dev libcurl4-openssl-dev librabbitmq-dev
                libjpeg-dev libpng-dev libgif-dev libwebp-dev zlib1g-dev libpugixml-dev)
# Everything below is for `tools/test` (and `ctest` after it), unless it says otherwise.
# python3, python3-pytest, python3-websockets, curl: the integration tests (ctest integration).
# clang and libclang-rt-14-dev (libFuzzer, the sanitizer runtimes; only recommended by clang, and
# we install without recommends): the fuzz preset that tools/test runs through tools/fuzz.
# faketime: the wall-clock step test (tests/integration/test_chat_clock.py).
# postgresql (server, psql and pg_basebackup): the needs_pg tests, each run against a throwaway
# cluster (tools/pgtmp; the failover and replica tests add streaming standbys); the cluster
# Debian's package creates is never started (tools/hold-services).
# pgbouncer: tests/integration/test_pgbouncer.py runs ringcast through a throwaway pgbouncer in
# transaction pooling mode (tools/pgbouncer_server.py); the system instance is never started.
# redis-server: the needs_redis tests (cluster mode), each against a throwaway redis-server
# (tools/redistmp); the system instance is never started. redis-sentinel: the Sentinel failover
# tests (tests/integration/test_cluster_redis_ha.py, tools/redis_server.py's SentinelGroup, three
# throwaway sentinels); its system instance is never started either.
# nginx: the needs_nginx tests (tests/integration/test_nginx.py) and deploy/try-cluster, each
# with a throwaway nginx of its own (tools/nginx_proxy.py); the system nginx is never started.
# systemd: `systemd-analyze verify` of deploy/systemd/ringcast.service (tests/integration/
# test_deploy.py; the package is installed, never started). python3-yaml: the same test reads
# deploy/docker-compose.yml; python3-seccomp: the same test runs ringcast under
# deploy/docker/seccomp-io-uring.json with libseccomp (Docker itself is not in the tests).
# nodejs (and npm, below; a version in the engines.node range of both package.json files,
# which Debian 12's 18.20.4 is, check_node below): the JavaScript SDK's tests (clients/js, ctest sdk_js), whose npm
# packages (ws, typescript) `npm ci` installs from the committed package-lock.json at the end.
# chromium: the web app's browser tests (tests/browser, ctest browser), headless, driven by the
# npm package playwright-core (installed like the SDK's, below), which downloads no browser.
# fonts-noto-color-emoji: the emoji of reactions in those tests' screenshots (chromium has
# no emoji font of its own).
# python3-prometheus-client: its reference parser reads GET /metrics (tests/integration/test_metrics.py).
# python3-pil: the uploads test makes its GIF and WebP images with Pillow
# (tests/integration/test_uploads.py).
# python3-cryptography: the Web Push test's push service checks the VAPID JWT and decrypts
# RFC 8291 payloads (tests/integration/webpush_service.py). python3-aiosmtpd: the email digest
# test's SMTP sink (tests/integration/test_email_digest.py).
# rabbitmq-server and python3-pika: the needs_amqp test (tests/integration/test_notify_amqp.py)
# starts a throwaway broker of its own and consumes with pika; the system broker (and Erlang's
# epmd) is never started.
# dpkg-dev (dpkg-shlibdeps, for the package's Depends), file and lintian: the Debian package
# test (tests/integration/test_package.py) builds it with `cpack -G DEB` and checks it.
# coturn: the calls' TURN server (tests/integration/test_calls_turn.py), a throwaway turnserver
# of its own (tools/coturn_server.py) and its turnutils_uclient; the system one never starts.
# ceph-mon, ceph-osd, radosgw and ceph-common: tests that need an S3 server, each against a
# throwaway single-node Ceph with its S3 gateway (tools/s3tmp, tools/s3_server.py); the packages'
# system daemons (ceph-crash, the ceph targets, radosgw's init script) never start.
# python3-boto3: those tests' S3 client (S3Server.client()).
test_packages=(python3 python3-pytest python3-websockets python3-prometheus-client curl faketime
               clang libclang-rt-14-dev postgresql pgbouncer redis-server redis-sentinel nginx
               nodejs chromium systemd python3-yaml python3-seccomp rabbitmq-server python3-pika
               python3-cryptography python3-aiosmtpd python3-pil dpkg-dev file lintian
               fonts-noto-color-emoji coturn ceph-mon ceph-osd radosgw ceph-common python3-boto3)
# `bench/run`: python3-matplotlib for its plots, nodejs and npm for the ws peer, PostgreSQL for
# chat-1k-pg's throwaway cluster, redis-server for the chat-3node scenarios (bench/lib/cluster.py).
bench_packages=(python3 python3-matplotlib nodejs postgresql redis-server)

wanted=("${build_packages[@]}")
case "${1:-build}" in
  build) ;;
  test)
    wanted+=("${test_packages[@]}")
    # Debian's nodejs ships npm separately; other nodejs builds bundle it (and conflict with it).
    command -v npm >/dev/null 2>&1 || wanted+=(npm)
    ;;
  bench)
    wanted+=("${bench_packages[@]}")
    command -v npm >/dev/null 2>&1 || wanted+=(npm)
    ;;
  *) echo "usage: tools/deps.sh [build|test|bench]" >&2; exit 2 ;;
esac

# The Node that the SDK's and the browser tests' package.json files accept (engines.node; the
# range Debian 12's nodejs 18.20.4 is in): said plainly here, instead of as a failure deep in
# `npm ci` or in a test.
check_node() {
  if ! (cd "$root" && python3 tools/node_engines.py check clients/js tests/browser); then
    echo "tools/deps.sh: install a Node in that range (Debian 12's nodejs is) first on PATH" >&2
    exit 1
  fi
}

# The npm packages of the SDK (clients/js) and of the browser tests (tests/browser), exactly as
# locked: `npm ci` (from the npm registry), skipped while node_modules was installed from the
# same lockfile (a copy of which marks the install). playwright-core has no install script;
# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD makes sure that no browser is ever fetched.
install_js_packages() {
  local dir
  for dir in "$root/clients/js" "$root/tests/browser"; do
    if cmp -s "$dir/package-lock.json" "$dir/node_modules/.ringcast-installed-lock" 2>/dev/null; then
      continue
    fi
    echo "tools/deps.sh: npm ci in ${dir#"$root"/}"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    cp "$dir/package-lock.json" "$dir/node_modules/.ringcast-installed-lock"
  done
}

# One dpkg-query for all (a second run is quick): it lists those it knows, whatever their state.
declare -A installed=()
while read -r package; do
  installed[$package]=1
done < <(dpkg-query -W -f='${Status} ${Package}\n' "${wanted[@]}" 2>/dev/null |
         sed -n 's/^install ok installed //p')
missing=()
for package in "${wanted[@]}"; do
  [[ -n ${installed[$package]:-} ]] || missing+=("$package")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "tools/deps.sh: missing packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  echo "tools/deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's postgresql, redis-server, rabbitmq-server, nginx, ceph and dbus packages start
  # their system daemons and enable them for boot; none is used here, and a start that fails (a
  # chroot, port 5672 or 80 taken, no IPv6) fails the whole installation. tools/hold-services
  # forbids every start (policy-rc.d) and disables what the installation enabled; services
  # already running are left alone.
  "$root/tools/hold-services" \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ "${1:-build}" == test ]]; then
  check_node
  install_js_packages
fi
exit 0

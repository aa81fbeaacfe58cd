# Multi-stage build: compile on Debian 12, run on a slim Debian 12 with only the shared libraries.
#   docker build -t ringcast .
#   docker run --rm -p 8080:8080 --security-opt seccomp=deploy/docker/seccomp-io-uring.json \
#     --ulimit memlock=-1 --ulimit nofile=20000:20000 -v ringcast-data:/var/lib/ringcast ringcast
# The chat store and the generated token secret live in /var/lib/ringcast (a volume);
# /var/lib/ringcast-files, owned by the service's user, is where a cluster's nodes mount the
# volume of uploaded files they share (--files-dir: deploy/docker-compose.yml), unless their
# uploads are in a bucket (--files-url: deploy/docker-compose.s3.yml). ca-certificates: the
# object store's https endpoint (AWS S3, R2...) is verified against them.
# Docker >= 25 blocks io_uring in its default seccomp profile, hence the seccomp option: the
# profile in deploy/docker/ allows io_uring_setup, io_uring_enter and io_uring_register.
# `ringcast --version` names the commit when the build is given it (.git is not copied in):
#   docker build --build-arg RINGCAST_COMMIT=$(git rev-parse --short=12 HEAD) -t ringcast .
FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ cmake ninja-build pkg-config liburing-dev \
      libsimdjson-dev libmimalloc-dev libssl-dev libcli11-dev libsqlite3-dev libpq-dev \
      libhiredis-dev libcurl4-openssl-dev librabbitmq-dev libjpeg-dev libpng-dev libgif-dev \
      libwebp-dev zlib1g-dev libpugixml-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ARG RINGCAST_COMMIT=unknown
COPY . .
# A user's build: a new compiler's new warnings must not stop it (RINGCAST_WERROR is for CI).
RUN cmake --preset release -DRINGCAST_BUILD_TESTS=OFF -DRINGCAST_BUILD_BENCH=OFF -DRINGCAST_WERROR=OFF \
      -DRINGCAST_COMMIT=${RINGCAST_COMMIT} \
 && cmake --build --preset release --target ringcast

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends liburing2 libsimdjson14 libmimalloc2.0 libssl3 \
      libsqlite3-0 libpq5 libhiredis0.14 libcurl4 librabbitmq4 libjpeg62-turbo libpng16-16 \
      libgif7 libwebp7 libwebpdemux2 zlib1g libpugixml1v5 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home ringcast \
 && install -d -o ringcast -g ringcast -m 0700 /var/lib/ringcast /var/lib/ringcast-files
COPY --from=build /src/build/release/core/ringcast /usr/local/bin/ringcast
# The static files (--web-root): found from the binary's place as <prefix>/share/ringcast/web.
COPY --from=build /src/web /usr/local/share/ringcast/web
# The JavaScript SDK's modules (--sdk-root, at /sdk/), which the web app imports.
COPY --from=build /src/clients/js/src /usr/local/share/ringcast/sdk
USER ringcast
ENV RINGCAST_DATA_DIR=/var/lib/ringcast
VOLUME /var/lib/ringcast
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ringcast"]

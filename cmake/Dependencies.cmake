# Every third-party dependency comes from a Debian 12 package; tools/deps.sh installs them.
include(CheckSymbolExists)
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto SSL)
find_package(simdjson REQUIRED)
find_package(mimalloc REQUIRED)
find_package(CLI11 REQUIRED)
# permessage-deflate (proto/ws_deflate.h): zlib1g-dev.
find_package(ZLIB REQUIRED)
pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing>=2.3)
# Cluster mode's RESP codec (core/cluster/redis_bus.h); Debian 12 has 0.14.
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis>=0.14)
# Web Push requests and SMTP (notify/push, notify/email): libcurl4-openssl-dev.
find_package(CURL REQUIRED)
# S3's XML answers (files/s3_client.cc): libpugixml-dev.
find_package(pugixml REQUIRED)
# Thumbnails of uploaded images (core/media/thumbnail.h): libjpeg-turbo, libpng, giflib and
# libwebp (its decoder; the unit tests use its encoder).
pkg_check_modules(JPEG REQUIRED IMPORTED_TARGET libjpeg)
pkg_check_modules(PNG REQUIRED IMPORTED_TARGET libpng)
pkg_check_modules(GIF REQUIRED IMPORTED_TARGET libgif)
pkg_check_modules(WEBP REQUIRED IMPORTED_TARGET libwebp libwebpdemux)

if(RINGCAST_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(RINGCAST_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# liburing 2.3 (Debian 12) lacks io_uring_setup_buf_ring; newer headers have it. We map the ring
# ourselves either way, but record what the headers offer for the start-up log.
set(CMAKE_REQUIRED_INCLUDES ${URING_INCLUDE_DIRS})
check_symbol_exists(io_uring_setup_buf_ring "liburing.h" RINGCAST_HAVE_SETUP_BUF_RING)
unset(CMAKE_REQUIRED_INCLUDES)

# `cmake --install` and `cpack -G DEB` (deploy/README.md, "Installing"). The layout is the one the
# binary looks for from its own place (core/config.cc, ShippedFolder): <prefix>/bin/ringcast
# serves <prefix>/share/ringcast/web at / and <prefix>/share/ringcast/sdk at /sdk/, so an
# installed or unpacked tree works wherever it lies, without flags.
#
#   <prefix>/bin/ringcast
#   <prefix>/share/ringcast/web/        web/ (the web app)
#   <prefix>/share/ringcast/sdk/        clients/js/src/ (the JavaScript SDK's modules)
#   <prefix>/share/doc/ringcast/        copyright, changelog.gz
#   <prefix>/share/lintian/overrides/ringcast   deploy/debian/lintian-overrides
#   <etc>/ringcast/ringcast.toml        deploy/ringcast.toml, the example configuration
#   <unitdir>/ringcast.service          deploy/systemd/ringcast.service, ExecStart at <prefix>/bin
#
# <etc> and <unitdir> are /etc and /lib/systemd/system for the prefix /usr (the package's; Debian
# 12 keeps units in /lib), else <prefix>/etc and <prefix>/lib/systemd/system (systemd also reads
# /usr/local/lib/systemd/system). They are chosen when installing, not when configuring, because
# cpack installs this build tree again under its own prefix.

install(TARGETS ringcast RUNTIME DESTINATION bin)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/web/ DESTINATION share/ringcast/web
        PATTERN README.md EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/clients/js/src/ DESTINATION share/ringcast/sdk)
install(CODE "set(RINGCAST_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
              set(RINGCAST_BINARY_DIR \"${PROJECT_BINARY_DIR}\")")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/InstallSystem.cmake)

# The Debian package: cpack -G DEB in the build directory (a test builds and checks it:
# tests/integration/test_package.py).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ringcast)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "ringcast maintainers <ringcast@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "io_uring WebSocket fan-out and chat server")
set(CPACK_PACKAGE_DESCRIPTION
    "ringcast is a shard-per-core chat server on io_uring: WebSocket chat with\n"
    "history, receipts, presence and file uploads, on SQLite or PostgreSQL, with\n"
    "a cluster mode over Redis. The package ships the server, its web app, its\n"
    "JavaScript SDK and a systemd unit.")
string(REPLACE ";" "" CPACK_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
# /etc and /lib are outside the prefix: install with DESTDIR (and the prefix /usr, whatever
# this build was configured with) so those absolute paths land in the package's tree.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the libraries the binary links (dpkg-shlibdeps), plus adduser for postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

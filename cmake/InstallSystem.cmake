# Run by `cmake --install` (cmake/Install.cmake): the files outside <prefix>/bin and
# <prefix>/share, whose place depends on the prefix installed to (see there).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(etc_dir /etc)
  set(unit_dir /lib/systemd/system)
else()
  set(etc_dir ${CMAKE_INSTALL_PREFIX}/etc)
  set(unit_dir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()

file(INSTALL ${RINGCAST_SOURCE_DIR}/deploy/ringcast.toml DESTINATION ${etc_dir}/ringcast
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# The shipped unit runs /usr/local/bin/ringcast (deploy/README.md's manual install): point it
# at this prefix's binary.
file(READ ${RINGCAST_SOURCE_DIR}/deploy/systemd/ringcast.service unit)
string(REPLACE "/usr/local/bin/ringcast" "${CMAKE_INSTALL_PREFIX}/bin/ringcast" unit "${unit}")
file(WRITE ${RINGCAST_BINARY_DIR}/install/ringcast.service "${unit}")
file(INSTALL ${RINGCAST_BINARY_DIR}/install/ringcast.service DESTINATION ${unit_dir}
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# Debian policy 12.5 and 12.7: the copyright file and a compressed changelog in the doc folder
# (changelog.gz: a native package, its version has no Debian revision).
file(INSTALL ${RINGCAST_SOURCE_DIR}/deploy/debian/copyright
     DESTINATION ${CMAKE_INSTALL_PREFIX}/share/doc/ringcast
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
# Tags lintian may not raise, each with its reason (deploy/debian/lintian-overrides).
file(INSTALL ${RINGCAST_SOURCE_DIR}/deploy/debian/lintian-overrides
     DESTINATION ${CMAKE_INSTALL_PREFIX}/share/lintian/overrides RENAME ringcast
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
execute_process(COMMAND gzip -9nc ${RINGCAST_SOURCE_DIR}/deploy/debian/changelog
                OUTPUT_FILE ${RINGCAST_BINARY_DIR}/install/changelog.gz
                COMMAND_ERROR_IS_FATAL ANY)
file(INSTALL ${RINGCAST_BINARY_DIR}/install/changelog.gz
     DESTINATION ${CMAKE_INSTALL_PREFIX}/share/doc/ringcast
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

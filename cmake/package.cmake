# The programs' install rules and the Debian package (issue 17):
#
#   cmake --build build --target package     # build/caf-raft_<v>_<arch>.deb
#                                            # and its -dbgsym .ddeb
#
# The package holds raftd and raftctl (stripped; their debug symbols go to
# the dbgsym package, found by build id), the shared library, headers and
# CMake package, a raftd@.service unit running as the caf-raft user, an
# example /etc/caf-raft config, man pages and make-certs.sh.
# scripts/check-package.sh (ctest debian_package) builds it, unpacks it and
# runs raftd --version from it.

install(TARGETS raftd raftctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        COMPONENT runtime)
install(PROGRAMS ${CMAKE_CURRENT_SOURCE_DIR}/scripts/make-certs.sh
        DESTINATION ${CMAKE_INSTALL_DATADIR}/caf-raft COMPONENT runtime)
# The example config belongs in /etc when the prefix is /usr (the package),
# else under the prefix, as GNUInstallDirs places sysconfdir; the unit names
# the installed raftd and that folder. Both are placed at install time,
# where CPack's prefix is known (file(INSTALL) adds DESTDIR itself).
install(CODE "
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(raft_etc /etc/caf-raft)
  else()
    set(raft_etc \${CMAKE_INSTALL_PREFIX}/etc/caf-raft)
  endif()
  file(INSTALL ${CMAKE_CURRENT_SOURCE_DIR}/packaging/example.ini
       DESTINATION \${raft_etc})
  file(READ ${CMAKE_CURRENT_SOURCE_DIR}/packaging/raftd@.service raft_unit)
  string(REPLACE /usr/bin/raftd
         \${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/raftd
         raft_unit \"\${raft_unit}\")
  string(REPLACE /etc/caf-raft \${raft_etc} raft_unit \"\${raft_unit}\")
  # One scratch file per destination: installs may run side by side.
  string(MD5 raft_dest \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}\")
  set(raft_unit_dir ${CMAKE_BINARY_DIR}/unit/\${raft_dest})
  file(WRITE \${raft_unit_dir}/raftd@.service \"\${raft_unit}\")
  file(INSTALL \${raft_unit_dir}/raftd@.service
       DESTINATION \${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
" COMPONENT runtime)

# Man pages from the programs' own --help (help2man), so they cannot drift
# from the flags; the include files add what --help does not say.
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(RAFT_MAN_DIR ${CMAKE_BINARY_DIR}/man)
  foreach(prog raftd raftctl)
    add_custom_command(
      OUTPUT ${RAFT_MAN_DIR}/${prog}.1
      COMMAND ${CMAKE_COMMAND} -E make_directory ${RAFT_MAN_DIR}
      COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section=1
              --include=${CMAKE_CURRENT_SOURCE_DIR}/packaging/${prog}.h2m
              --output=${RAFT_MAN_DIR}/${prog}.1 $<TARGET_FILE:${prog}>
      # CAF's help puts ": " before each option's text.
      COMMAND sed -i "s/^: //" ${RAFT_MAN_DIR}/${prog}.1
      DEPENDS ${prog} ${CMAKE_CURRENT_SOURCE_DIR}/packaging/${prog}.h2m
      COMMENT "man page of ${prog}")
    list(APPEND RAFT_MAN_PAGES ${RAFT_MAN_DIR}/${prog}.1)
  endforeach()
  add_custom_target(man-pages ALL DEPENDS ${RAFT_MAN_PAGES})
  install(FILES ${RAFT_MAN_PAGES} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
          COMPONENT runtime)
else()
  message(STATUS "help2man not found: no man pages (scripts/deps.sh installs it)")
endif()

# -- CPack: caf-raft (runtime) and caf-raft-dev (development), as Debian splits
# a library and its headers ---------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME caf-raft)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "caf-raft developers <caf-raft@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Raft consensus on the C++ Actor Framework: library, raftd and raftctl")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime development)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME caf-raft)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME caf-raft-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
# What a host project's find_package(caf-raft) looks for.
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "caf-raft (= ${PROJECT_VERSION}), libcaf-dev, libsqlite3-dev, zlib1g-dev, liblzma-dev, libspdlog-dev, prometheus-cpp-dev, nlohmann-json3-dev, libssl-dev")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# The shared libraries the binaries load decide the dependencies.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "adduser")
# Stripped binaries; their debug symbols in caf-raft-dbgsym.
set(CPACK_DEBIAN_RUNTIME_DEBUGINFO_PACKAGE ON)
# postinst makes the user, prerm stops the servers on removal, and the
# ldconfig trigger stands in for the ldconfig calls CPack's own postinst
# would make for libcaf-raft.so.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/postinst
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/prerm
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/triggers
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

# `cmake --install BUILD [--prefix P]` installs the public headers, the static libraries, the CLI,
# a CMake package (find_package(blecrypt): blecrypt::blecrypt, blecrypt::crypto_openssl,
# blecrypt::crypto_mbedtls) and pkg-config files (blecrypt, blecrypt-openssl, blecrypt-mbedtls).
# tests/consumer builds a small program against such an install.
include(CMakePackageConfigHelpers)
set(BLECRYPT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/blecrypt)

# blecrypt_install_library(TARGET EXPORT_SET): installs TARGET's archive and writes its imported
# target (blecrypt::<name without the blecrypt_ prefix>) to <EXPORT_SET>.cmake.
function(blecrypt_install_library target export_set)
  string(REGEX REPLACE "^blecrypt_" "" export_name ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${export_name})
  install(TARGETS ${target} EXPORT ${export_set}
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT ${export_set} NAMESPACE blecrypt:: DESTINATION ${BLECRYPT_CMAKE_DIR})
endfunction()

function(blecrypt_install_package)
  set_target_properties(blecrypt PROPERTIES EXPORT_NAME blecrypt)
  install(TARGETS blecrypt EXPORT blecryptTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT blecryptTargets NAMESPACE blecrypt:: DESTINATION ${BLECRYPT_CMAKE_DIR})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/blecrypt DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.hpp")
  install(FILES ${CMAKE_BINARY_DIR}/generated/blecrypt/version.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/blecrypt)
  install(TARGETS blecrypt_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/blecryptConfig.cmake.in
    ${CMAKE_BINARY_DIR}/cmake/blecryptConfig.cmake INSTALL_DESTINATION ${BLECRYPT_CMAKE_DIR})
  write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/blecryptConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
  install(FILES ${CMAKE_BINARY_DIR}/cmake/blecryptConfig.cmake ${CMAKE_BINARY_DIR}/cmake/blecryptConfigVersion.cmake
    ${PROJECT_SOURCE_DIR}/cmake/FindMbedcrypto.cmake DESTINATION ${BLECRYPT_CMAKE_DIR})

  # pkg-config: absolute paths from the install prefix (`cmake --install --prefix` is honoured
  # because the files are generated at install time).
  foreach(pc IN ITEMS blecrypt blecrypt-openssl blecrypt-mbedtls)
    install(CODE "
      set(PROJECT_VERSION \"${PROJECT_VERSION}\")
      set(PROJECT_DESCRIPTION \"${PROJECT_DESCRIPTION}\")
      set(BLECRYPT_PC_LIBDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}\")
      set(BLECRYPT_PC_INCLUDEDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_INCLUDEDIR}\")
      configure_file(\"${PROJECT_SOURCE_DIR}/cmake/${pc}.pc.in\" \"${CMAKE_BINARY_DIR}/pkgconfig/${pc}.pc\" @ONLY)
      file(INSTALL \"${CMAKE_BINARY_DIR}/pkgconfig/${pc}.pc\" DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\")
    ")
  endforeach()
endfunction()

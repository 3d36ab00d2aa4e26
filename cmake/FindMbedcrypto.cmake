# Defines the imported target blecrypt_mbedcrypto (mbedTLS's libmbedcrypto + its headers).
# Included by the top-level CMakeLists.txt and by the installed blecryptConfig.cmake.
if(NOT TARGET blecrypt_mbedcrypto)
  find_path(MBEDTLS_INCLUDE_DIR mbedtls/version.h ${BLECRYPT_MBEDCRYPTO_REQUIRED})
  find_library(MBEDCRYPTO_LIBRARY mbedcrypto ${BLECRYPT_MBEDCRYPTO_REQUIRED})
  if(MBEDTLS_INCLUDE_DIR AND MBEDCRYPTO_LIBRARY)
    add_library(blecrypt_mbedcrypto UNKNOWN IMPORTED)
    set_target_properties(blecrypt_mbedcrypto PROPERTIES
      IMPORTED_LOCATION "${MBEDCRYPTO_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${MBEDTLS_INCLUDE_DIR}")
  endif()
endif()

# serde's dependencies beyond the top-level list: jansson parses JSON input
# records, schema-registry answers and the defaults of the reader schemas
# (avro-c itself depends on it); zlib inflates and deflates the blocks of
# Avro object container files (common/ocf.c, codec "deflate"). Included by
# CMakeLists.txt after nd_common.
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
target_link_libraries(nd_common PUBLIC PkgConfig::JANSSON PkgConfig::ZLIB)

# serde's dependencies beyond the top-level list: jansson parses JSON input
# records, schema-registry answers and the defaults of the reader schemas
# (avro-c itself depends on it). Included by CMakeLists.txt after nd_common.
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
target_link_libraries(nd_common PUBLIC PkgConfig::JANSSON)

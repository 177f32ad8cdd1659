# Helpers shared by every CMakeLists.txt of the project.

# nd_add_processor(NAME src...): one trigger operator, built into
# nd_processors with only include/nudge and processors/lib on its include
# path (processors/CMakeLists.txt).
function(nd_add_processor name)
  target_sources(nd_processors PRIVATE ${ARGN})
endfunction()

# nd_add_check_test(NAME n SOURCES ... [LABELS ...] [LIBS ...] [TIMEOUT s])
# One Check suite binary registered with CTest.
function(nd_add_check_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LABELS;LIBS" ${ARGN})
  add_executable(test_${T_NAME} ${T_SOURCES})
  target_link_libraries(test_${T_NAME} PRIVATE nd_test_support ${T_LIBS})
  add_test(NAME ${T_NAME} COMMAND test_${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}"
    TIMEOUT ${T_TIMEOUT})
endfunction()

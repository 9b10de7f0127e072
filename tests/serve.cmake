# `shardlearn serve` (tests/serve/): real servers on free ports of 127.0.0.1,
# always stopped; the registry tests start a real `mlflow server`.
function(sl_serve_test name script)
  add_test(NAME ${name} COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/serve/${script}
           $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 300
                       WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/serve)
endfunction()
# Both protocols, every instance form, equal to `predict`; status codes; limits; /metrics.
sl_serve_test(serve_protocols test_serve.py)
# SIGTERM drains (exit 0; past --drain exit 1); SIGHUP reloads, a broken file keeps the old
# model; the AIP_* contract; mpirun -np 1 and -np 2; sources and options that fail.
sl_serve_test(serve_lifecycle test_serve_lifecycle.py)
# Sources from a real mlflow server (runs:/, models:/NAME/VERSION, models:/NAME@ALIAS), the
# alias moved under load with --refresh 1 (no failed request), a refresh while the server is gone.
sl_serve_test(serve_registry test_serve_registry.py)
set_tests_properties(serve_registry PROPERTIES PROCESSORS 2)
# A multinomial model (wine, 3 classes): every instance form of both protocols, fast and general
# paths, gives predict --proba's K probabilities (1e-12) and predict's classes; output=both.
sl_serve_test(serve_multinomial test_serve_multinomial.py)
# The three again with the command built with ThreadSanitizer (tests/tsan.cmake): request
# threads scoring while the loader swaps the model, signals, the drain. A report ends serve
# with exit 66, which fails the test.
if(NOT SL_SANITIZE)
  foreach(t protocols:test_serve.py lifecycle:test_serve_lifecycle.py registry:test_serve_registry.py)
    string(REPLACE ":" ";" parts ${t})
    list(GET parts 0 name)
    list(GET parts 1 script)
    add_test(NAME serve_${name}_tsan
             COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/serve/${script}
                     $<TARGET_FILE:shardlearn_tsan> ${MPIEXEC_EXECUTABLE})
    set_tests_properties(serve_${name}_tsan PROPERTIES TIMEOUT 600
      WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/serve
      ENVIRONMENT "${SL_TEST_ENV};TSAN_OPTIONS=halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=${PROJECT_SOURCE_DIR}/tests/sanitize/tsan.supp")
  endforeach()
  set_tests_properties(serve_registry_tsan PROPERTIES PROCESSORS 2)
endif()
# sl_g17 (the answers' numbers without printf) against snprintf's "%.17g", byte for byte.
add_executable(test_g17 ${CMAKE_CURRENT_SOURCE_DIR}/serve/test_g17.c)
target_include_directories(test_g17 PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_compile_options(test_g17 PRIVATE ${SL_WARNINGS})
target_compile_definitions(test_g17 PRIVATE _POSIX_C_SOURCE=200809L)
target_link_libraries(test_g17 PRIVATE shardlearn_serve m)
add_test(NAME serve_g17 COMMAND test_g17)

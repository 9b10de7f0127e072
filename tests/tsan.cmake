# The tracker's threads (training thread, syncer, sender) under
# ThreadSanitizer: the whole command built with -fsanitize=thread, and the
# tracking tests run against a real mlflow server with it. The first data
# race reported fails the run (halt_on_error) and so the test.
if(SL_SANITIZE)
  return() # the ASan build cannot also take -fsanitize=thread; the plain build runs these
endif()
add_executable(shardlearn_tsan ${SL_SOURCES} ${SL_SERVE_SOURCES} ${SL_CLI_SOURCES})
target_include_directories(shardlearn_tsan PRIVATE ${PROJECT_SOURCE_DIR}/src
                           ${PROJECT_SOURCE_DIR}/include ${PROJECT_BINARY_DIR}/include)
target_compile_options(shardlearn_tsan PRIVATE ${SL_WARNINGS} -fsanitize=thread -g -O1)
target_compile_definitions(shardlearn_tsan PRIVATE _POSIX_C_SOURCE=200809L)
target_link_options(shardlearn_tsan PRIVATE -fsanitize=thread)
# The same name as the command (the tests check the run's source tag), another folder.
set_target_properties(shardlearn_tsan PROPERTIES OUTPUT_NAME shardlearn
                      RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/tsan)
target_link_libraries(shardlearn_tsan PRIVATE MPI::MPI_C BLAS::BLAS CURL::libcurl ZLIB::ZLIB PkgConfig::ZSTD cjson
                      PkgConfig::YAML PkgConfig::MHD OpenSSL::Crypto Threads::Threads m murmurhash)
foreach(t live:test_tracking.py faults:test_tracking_faults.py)
  string(REPLACE ":" ";" parts ${t})
  list(GET parts 0 name)
  list(GET parts 1 script)
  add_test(NAME track_${name}_tsan
           COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/tracking/${script}
                   $<TARGET_FILE:shardlearn_tsan> ${MPIEXEC_EXECUTABLE})
  set_tests_properties(track_${name}_tsan PROPERTIES TIMEOUT 900 WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    ENVIRONMENT "${SL_TEST_ENV};TSAN_OPTIONS=halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=${PROJECT_SOURCE_DIR}/tests/sanitize/tsan.supp")
endforeach()

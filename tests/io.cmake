# Byte sources (src/io): listing, ranges, gzip/zstd streams (one rank).
sl_c_test(test_io)
sl_mpi_test(io test_io 60 1)

# The load-rate probe of the benchmark (scripts/bench/run_bench.py --only-sources).
add_executable(sl_load_rate ${PROJECT_SOURCE_DIR}/scripts/bench/load_rate.c)
target_compile_options(sl_load_rate PRIVATE ${SL_WARNINGS})
target_link_libraries(sl_load_rate PRIVATE shardlearn_lib)

# Directories, globs, .gz/.zst parts through the CLI on 1-3 ranks.
add_test(NAME io_sources COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/io/test_sources.py
         $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
set_tests_properties(io_sources PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 300)
# The collectives' own time (scripts/bench/coll_rate.c; docs/benchmark.md).
add_executable(sl_coll_rate ${PROJECT_SOURCE_DIR}/scripts/bench/coll_rate.c)
target_compile_options(sl_coll_rate PRIVATE ${SL_WARNINGS})
target_link_libraries(sl_coll_rate PRIVATE shardlearn_lib)

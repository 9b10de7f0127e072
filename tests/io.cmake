# Byte sources (src/io): listing, ranges, gzip/zstd streams (one rank).
sl_c_test(test_io)
sl_mpi_test(io test_io 60 1)

# The load-rate probe of the benchmark (scripts/bench/run_bench.py --only-sources).
add_executable(sl_load_rate ${PROJECT_SOURCE_DIR}/scripts/bench/load_rate.c)
target_compile_options(sl_load_rate PRIVATE ${SL_WARNINGS})
target_link_libraries(sl_load_rate PRIVATE shardlearn_lib)

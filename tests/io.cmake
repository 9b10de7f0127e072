# Byte sources (src/io): listing, ranges, gzip/zstd streams (one rank).
sl_c_test(test_io)
sl_mpi_test(io test_io 60 1)

# Readers: good and bad input on 1 and 3 ranks; shard coverage on 1-4 ranks.
sl_c_test(test_data)
sl_mpi_test(data test_data 120 1 3)
sl_c_test(test_shards)
sl_mpi_test(shards test_shards 120 1 2 3 4)

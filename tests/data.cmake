# Readers: good and bad input on 1 and 3 ranks; shard coverage on 1-4 ranks.
sl_c_test(test_data)
foreach(np 1 3)
  add_test(NAME data_${np}rank COMMAND ${SL_MPIRUN} -np ${np} $<TARGET_FILE:test_data>)
  set_tests_properties(data_${np}rank PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 120)
endforeach()

sl_c_test(test_shards)
foreach(np 1 2 3 4)
  add_test(NAME shards_${np}rank COMMAND ${SL_MPIRUN} -np ${np} $<TARGET_FILE:test_shards>)
  set_tests_properties(shards_${np}rank PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 120)
endforeach()

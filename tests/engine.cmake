# Engine unit tests: objective derivatives on 1, 2 and 3 ranks.
sl_c_test(test_gradcheck)
foreach(np 1 2 3)
  add_test(NAME gradcheck_${np}rank COMMAND ${SL_MPIRUN} -np ${np} $<TARGET_FILE:test_gradcheck>)
  set_tests_properties(gradcheck_${np}rank PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 120)
endforeach()

# Engine unit tests: objective derivatives on 1, 2 and 3 ranks.
sl_c_test(test_gradcheck)
foreach(np 1 2 3)
  add_test(NAME gradcheck_${np}rank COMMAND ${SL_MPIRUN} -np ${np} $<TARGET_FILE:test_gradcheck>)
  set_tests_properties(gradcheck_${np}rank PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 120)
endforeach()

# Optimisers: convergence, agreement, SGD accuracy and determinism, stop requests.
sl_c_test(test_optim)
foreach(np 1 2 4)
  add_test(NAME optim_${np}rank COMMAND ${SL_MPIRUN} -np ${np} $<TARGET_FILE:test_optim>)
  set_tests_properties(optim_${np}rank PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 300)
endforeach()

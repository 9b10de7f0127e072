# Regularisation paths, cross-validation and early stopping (issue #16; README:
# Regularisation paths and cross-validation).
function(sl_path_test name script)
  add_test(NAME ${name} COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/paths/${script}
           $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 300
                       WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/paths)
endfunction()
sl_path_test(path_equal_fits test_path.py)
sl_path_test(path_cv_sklearn test_cv.py)
sl_path_test(path_early_stop test_early_stop.py)
sl_path_test(path_nested_runs test_nested_runs.py)
sl_path_test(path_bad_input test_path_errors.py)
# --l1 lists and ranges: the lasso path and the l2 x l1 grid (issue #16 item 2).
sl_path_test(path_l1_equal_fits test_l1_path.py)
sl_path_test(path_l1_cv_sklearn test_l1_cv.py)

# `train --config FILE`: precedence, bad files, the example config
# (tests/reference/test_config.py), and config.json with its digest in a real
# mlflow server (tests/tracking/test_config_tracking.py).
add_test(NAME config_cli COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/test_config.py
         $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
set_tests_properties(config_cli PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 300
                     WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/reference)
add_test(NAME config_mlflow COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/tracking/test_config_tracking.py
         $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
set_tests_properties(config_mlflow PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 600
                     WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})

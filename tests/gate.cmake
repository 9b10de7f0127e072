# `shardlearn gate` against a real `mlflow server` (from .venv) on 127.0.0.1,
# with runs made by `shardlearn train` on 1 and 3 ranks.
add_test(NAME gate_live COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/gate/test_gate.py
         $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
set_tests_properties(gate_live PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 600
                     WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})

# CI examples: scripts/ci-regression.sh three times against a real
# `mlflow server` (bootstrap, a worse run, a better run; tests/ci/test_ci_regression.py),
# and the GitHub Actions, GitLab CI and Cloud Build wrappers in examples/ci/
# parsed and checked (tests/ci/test_ci_examples.py).
add_test(NAME ci_regression COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ci/test_ci_regression.py
         $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
set_tests_properties(ci_regression PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 600
                     WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
add_test(NAME ci_examples COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ci/test_ci_examples.py)
set_tests_properties(ci_examples PROPERTIES TIMEOUT 120 WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})

# Checkpoints and stop signals: SIGUSR1 mid-run, resume on the same and another
# rank count, another job's and damaged checkpoints, periodic checkpoints and
# kill -9 (tests/reference/test_checkpoint.py, with the reference tests' helpers).
add_test(NAME checkpoint_resume
         COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/test_checkpoint.py
                 $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
set_tests_properties(checkpoint_resume PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 600
                     WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/reference)

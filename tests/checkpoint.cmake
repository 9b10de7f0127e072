# Checkpoints and stop signals: SIGUSR1 mid-run, resume on the same and another
# rank count, another job's and damaged checkpoints, periodic checkpoints and
# kill -9 (tests/reference/test_checkpoint.py, with the reference tests' helpers).
add_test(NAME checkpoint_resume
         COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/test_checkpoint.py
                 $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
set_tests_properties(checkpoint_resume PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 600
                     WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/reference)

# --watch-preemption against a fake Compute Engine metadata server on 127.0.0.1
# that flips instance/preempted to TRUE mid-run (tests/reference/test_preemption.py).
add_test(NAME checkpoint_preemption
         COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/test_preemption.py
                 $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
set_tests_properties(checkpoint_preemption PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 300
                     WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/reference)

# Tracking tests against a real `mlflow server` (from .venv) on 127.0.0.1, with fault injection.
function(sl_track_test name script)
  add_test(NAME ${name} COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/tracking/${script}
           $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 900
                       WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
endfunction()
sl_track_test(track_live test_tracking.py)
sl_track_test(track_faults test_tracking_faults.py)
sl_track_test(track_hostile test_tracking_hostile.py)
sl_track_test(track_secrets test_secrets.py)
# A run stopped with a checkpoint (SIGUSR1, kill -9) and resumed stays one MLflow run.
sl_track_test(track_checkpoint test_checkpoint_tracking.py)
sl_track_test(track_system_metrics test_system_metrics.py)
sl_track_test(track_inputs test_inputs.py)
sl_track_test(track_losses test_losses_tracking.py)
# --l1: the l1 param, the optimizer used and nnz_weights (issue #16 item 1).
sl_track_test(track_l1 test_l1_tracking.py)

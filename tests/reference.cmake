# Reference tests against scikit-learn (Python in .venv, set up by scripts/deps.sh --python).
function(sl_py_test name script)
  add_test(NAME ${name} COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/reference/${script}
           $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 600
                       WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/reference)
endfunction()
sl_py_test(ref_optimum test_optimum.py)
sl_py_test(ref_ranks test_ranks.py)
sl_py_test(ref_predict test_predict.py)
sl_py_test(ref_cli_errors test_cli_errors.py)
sl_py_test(ref_golden test_golden.py)
# The goldens were made when Newton had only its CG solver; auto now takes the
# explicit Hessian on these small sets (same optimum, other bits): pin CG.
set_tests_properties(ref_golden PROPERTIES ENVIRONMENT "${SL_TEST_ENV};SL_TEST_NEWTON_SOLVER=cg")
sl_py_test(ref_faults test_faults.py)
sl_py_test(ref_disk_full test_disk_full.py)
set_tests_properties(ref_disk_full PROPERTIES SKIP_RETURN_CODE 77)
sl_py_test(ref_hostile_input test_hostile_input.py)
# Losses, weights and warm starts (issue #15; README: Losses).
sl_py_test(ref_losses test_losses.py)
sl_py_test(ref_weights test_weights.py)
sl_py_test(ref_warm_start test_warm_start.py)
sl_py_test(ref_standardize test_standardize.py)
sl_py_test(ref_cache test_cache.py)
# L1 and elastic net (issue #16 item 1; README: L1 and elastic net).
sl_py_test(ref_l1 test_l1.py)
sl_py_test(ref_cache_kinds test_cache_kinds.py)
# Newton's two solvers (issue #17): by default (auto) these small sets take
# the explicit Hessian; the same references once more with each forced.
foreach(t optimum ranks losses weights standardize)
  foreach(solver cg direct)
    set(file test_${t}.py)
    sl_py_test(ref_${t}_${solver} ${file})
    set_tests_properties(ref_${t}_${solver} PROPERTIES
                         ENVIRONMENT "${SL_TEST_ENV};SL_TEST_NEWTON_SOLVER=${solver}")
  endforeach()
endforeach()
# Node-shared reductions against MPI's (issue #17; README: Shared memory).
sl_py_test(ref_shm test_shm.py)
sl_py_test(ref_multinomial test_multinomial.py)
# Multinomial with class weights, warm starts, checkpoints, caches and L1
# (issue #15 "Models I"; README: Multinomial logistic regression).
sl_py_test(ref_multinomial_options test_multinomial_options.py)

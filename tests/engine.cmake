# Engine unit tests: objective derivatives on 1, 2 and 3 ranks.
sl_c_test(test_gradcheck)
sl_mpi_test(gradcheck test_gradcheck 120 1 2 3)

# Optimisers: convergence, agreement, SGD accuracy and determinism, stop requests.
sl_c_test(test_optim)
sl_mpi_test(optim test_optim 300 1 2 4)

# The log handler an embedding program sets.
sl_c_test(test_log)
sl_mpi_test(log test_log 60 2)

# Optimiser state for checkpoints: a saved state continues a run bit for bit.
sl_c_test(test_ckpt_state)
sl_mpi_test(ckpt_state test_ckpt_state 120 1 2 3)

# The communicator's counters and hook, and the system metrics monitor.
sl_c_test(test_comm)
sl_mpi_test(comm test_comm 60 1 3)
# The same without node-shared reductions (MPI's collectives only).
add_test(NAME comm_noshm_3rank COMMAND ${SL_MPIRUN} -np 3 $<TARGET_FILE:test_comm>)
set_tests_properties(comm_noshm_3rank PROPERTIES TIMEOUT 60 ENVIRONMENT
  "${SL_TEST_ENV};SL_SHM_REDUCE=0;OMPI_MCA_orte_tmpdir_base=${CMAKE_CURRENT_BINARY_DIR}/ompi/comm-noshm")

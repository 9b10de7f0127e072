# A cluster on one machine: network namespaces joined by a bridge play the
# hosts; mpirun reaches them through an rsh agent (tests/cluster/netns-rsh).
# Needs root; skipped (exit 77) where namespaces cannot be created.
add_test(NAME cluster_multihost
         COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cluster/test_multihost.py
                 $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
set_tests_properties(cluster_multihost PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 300
                     SKIP_RETURN_CODE 77 WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})

# examples/slurm/train.sbatch under a real single-machine Slurm (munged,
# slurmctld, slurmd in a temporary directory; tests/cluster/slurm_cluster.py):
# warned mid-run, the job checkpoints, requeues itself, resumes and ends with
# the uninterrupted model. Skipped (exit 77) without slurm-wlm and munge.
add_test(NAME cluster_slurm
         COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cluster/test_slurm.py
                 $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
set_tests_properties(cluster_slurm PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 300
                     SKIP_RETURN_CODE 77 WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})

# The Google Cloud Batch job (examples/gcp, scripts/gcp/submit-batch.sh): its
# task script on two namespace hosts with a local directory for the bucket,
# stopped and resumed; the job spec against a JSON schema of Batch's API.
add_test(NAME cluster_batch_task
         COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cluster/test_batch_task.py
                 $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE})
set_tests_properties(cluster_batch_task PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 300
                     SKIP_RETURN_CODE 77 WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})

# Byte sources (src/io): the remote backend against a real GCS emulator
# (fake-gcs-server, from its PyPI wheel), a local https server, a fake token
# endpoint and metadata server, and fault-injecting proxies (tests/io/).
sl_c_test(test_remote)
add_test(NAME io_remote COMMAND ${SL_PYTHON} -m pytest -q -p no:cacheprovider
         ${CMAKE_CURRENT_SOURCE_DIR}/io/test_remote.py)
set_tests_properties(io_remote PROPERTIES TIMEOUT 300 WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
  ENVIRONMENT "${SL_TEST_ENV};SL_TEST_REMOTE=$<TARGET_FILE:test_remote>")
# gs:// outputs through the command line (train --model-out/--metrics-out,
# predict --out, eval --metrics-out) on 2 ranks.
add_test(NAME io_remote_cli COMMAND ${SL_PYTHON} -m pytest -q -p no:cacheprovider
         ${CMAKE_CURRENT_SOURCE_DIR}/io/test_remote_cli.py)
set_tests_properties(io_remote_cli PROPERTIES TIMEOUT 300 WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
  ENVIRONMENT "${SL_TEST_ENV};SL_BIN=${SL_BIN};SL_MPIEXEC=${MPIEXEC_EXECUTABLE}")
# train --data gs://... and https://... on 2 ranks: the same model bytes as the
# local parts, also through 503s and cut downloads; a replaced object stops it.
add_test(NAME io_remote_train COMMAND ${SL_PYTHON} -m pytest -q -p no:cacheprovider
         ${CMAKE_CURRENT_SOURCE_DIR}/io/test_remote_train.py)
set_tests_properties(io_remote_train PROPERTIES TIMEOUT 300 WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
  ENVIRONMENT "${SL_TEST_ENV};SL_BIN=${SL_BIN};SL_MPIEXEC=${MPIEXEC_EXECUTABLE}")

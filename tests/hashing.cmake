# Hashed categorical columns (tests/hashing/): the hash against scikit-learn's
# FeatureHasher on thousands of strings; train on hashed CSV/TSV == train on
# FeatureHasher's LIBSVM (bit for bit), 1 == 2 ranks; predict/eval on the raw
# file == train's metrics; serve's raw records == predict; bad input errors.
sl_c_test(hash_index)
add_test(NAME hashing COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/hashing/test_hashing.py
         $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:hash_index>)
set_tests_properties(hashing PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 300
                     WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/hashing)

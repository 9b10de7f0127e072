# The installed package: cmake --install, examples/embed built with
# find_package(shardlearn) and with pkg-config, run under mpirun.
add_test(NAME package_embed
         COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/package/test_embed.py
                 $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE} ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(package_embed PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 600)

# The Dockerfile built and run without a Docker engine: debootstrap'd Debian 12
# roots, RUN under chroot, the image's serve under Vertex AI's AIP_* variables.
add_test(NAME package_dockerfile
         COMMAND ${SL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/package/test_dockerfile.py
                 $<TARGET_FILE:shardlearn> ${MPIEXEC_EXECUTABLE} ${PROJECT_SOURCE_DIR})
set_tests_properties(package_dockerfile PROPERTIES ENVIRONMENT "${SL_TEST_ENV}" TIMEOUT 1500
                     SKIP_REGULAR_EXPRESSION "SKIP:")

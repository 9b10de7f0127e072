# Fuzzing (docs/fuzzing.md): every libFuzzer target of tests/fuzz/ replays its
# regression inputs, then runs 10 s on a fresh copy of its seed corpus, two at
# a time. scripts/fuzz.sh builds them with clang into build-fuzz/ of the source
# tree (not with this build's compiler). Without clang and libFuzzer, and none
# installable, it exits 77: skipped here, a failure when CI=true.
add_test(NAME fuzz_smoke COMMAND ${PROJECT_SOURCE_DIR}/scripts/fuzz.sh 10 --ci)
set_tests_properties(fuzz_smoke PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 PROCESSORS 2
                     WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})

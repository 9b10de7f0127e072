#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ for every target but
fuzz_mlflow (make_mlflow_seeds.py captures that one from a real server).

The inputs are the realistic small cases: the good and bad lines of
tests/test_data.c, the golden model files, journals and state.json as
src/track/journal.c and state.c write them, and command lines of the
subcommands. Run it from anywhere; it replaces the files it writes and
leaves any other file in the corpus folders alone.

    python3 tests/fuzz/make_seeds.py
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def head_lines(path, n):
    with open(path, "rb") as f:
        return b"".join(f.readlines()[:n])


# --- LIBSVM: an option byte (fuzz_libsvm.c), then the file ------------------------------
GOOD_SVM = ("# a comment line\n+1 1:0.5 3:-2e-3 # trailing comment\n\n-1 qid:7 2:1.25\r\n"
            "1 1:1 2:2 3:3 4:4\n-1\n+1 4:1e2")
put("fuzz_libsvm", "good", "0" + GOOD_SVM)
put("fuzz_libsvm", "good-buffer1", "4" + GOOD_SVM)
put("fuzz_libsvm", "good-buffer64", "<" + GOOD_SVM)
put("fuzz_libsvm", "zero-based", "1" + "1 0:1 5:2\n0 1:3\n")
put("fuzz_libsvm", "n-features", "2" + "1 2:1\n-1 3:1\n")
put("fuzz_libsvm", "numbers", "0" + "1 1:9007199254740993 2:4.9e-324 3:.5 4:5. 5:-.25e+2 "
    "6:1E5 7:0x1p3 8:3.14159265358979323846264338327950288 9:1e22 10:1e-400\n")
put("fuzz_libsvm", "train-svm", b"0" + head_lines(os.path.join(ROOT, "examples/train.svm"), 12))
for name, text in [
        ("repeat", "1 1:1\n-1 2:1\n1 3:1 3:2\n"), ("order", "1 1:1\n-1 4:1 2:1\n"),
        ("zeroidx", "1 1:1\n1 0:1\n"), ("label", "1 1:1\n-1 1:1\n2 1:1\n"),
        ("label2", "1 1:1\nyes 1:1\n"), ("nonnum", "1 1:1\n1 1:abc\n"),
        ("nan", "1 1:1\n1 2:nan\n"), ("inf", "1 1:1\n1 2:1e999\n"), ("colon", "1 1:1\n1 7\n"),
        ("negidx", "1 1:1\n1 -3:1\n"), ("comments", "# only\n\n"), ("empty", ""),
        ("bigidx", "1 2147483647:1\n1 99999999999999999999:2\n")]:
    put("fuzz_libsvm", "bad-" + name, "0" + text)

# --- hashed categorical columns: an option byte (fuzz_hashed.c), then the file --------------
# bits 0-1: criteo B=3, criteo B=20, csv "y,a,b,c" B=2, tsv 3 columns B=5.
CRITEO_ROW = "\t".join(["1", "3", "", "7"] + [""] * 10 + ["68fd1e64", "", "ö日本"] + ["x"] * 23)
put("fuzz_hashed", "criteo", "0" + CRITEO_ROW + "\n" + CRITEO_ROW.replace("1", "0", 1) + "\n")
put("fuzz_hashed", "criteo-b20-buffer7", "9" + CRITEO_ROW + "\r\n\n")
put("fuzz_hashed", "csv-header", "2" + "y,a,b,c\n1,red,2.5,x\n0,,,\n-1,red,0,red\n")
put("fuzz_hashed", "tsv", "3" + "1\tv\t1e3\n0\t\t-2\n")
put("fuzz_hashed", "bad-ragged", "2" + "y,a,b,c\n1,red,2.5\n")
put("fuzz_hashed", "bad-number", "3" + "1\tv\tnan\n")
put("fuzz_hashed", "csv-quoted", "2" + 'y,"a",b,c\n1,"x, ""y""",2, "z" \n0,"",,""""\n')
put("fuzz_hashed", "bad-open-quote", "2" + 'y,a,b,c\n1,"x,2,z\n')

# --- CSV: an option byte (fuzz_csv.c), then the file ----------------------------------------
HEAD_CSV = "label,a,b,c\n1,0.5,0,2\n0,1,-1,3e1\n1, 2 ,3,4\n"
put("fuzz_csv", "header", "0" + HEAD_CSV)
put("fuzz_csv", "header-buffer7", "8" + HEAD_CSV)
put("fuzz_csv", "no-header", "0" + "-1,1,2\n1,3,4\n")
put("fuzz_csv", "crlf-blank", "0" + "y,x\r\n\r\n1,2\r\n-1,3\r\n")
put("fuzz_csv", "heart", b"0" + head_lines(os.path.join(ROOT, "tests/golden/heart_scale.csv"), 8))
for name, text in [("ragged", "y,a,b\n1,1,2\n0,1,2\n1,1\n"), ("ragged2", "1,1,2\n0,1,2,3\n"),
                   ("nonnum", "1,1,2\n0,x,2\n"), ("label", "1,1\n2,1\n"), ("nan", "1,nan\n"),
                   ("comma", "1,,2\n"), ("empty", "")]:
    put("fuzz_csv", "bad-" + name, "0" + text)

# --- byte ranges: an option byte (fuzz_range.c), then the file --------------------------------
put("fuzz_range", "lines", "0" + "a\nbb\nccc\n\ndddd\n")
put("fuzz_range", "no-newline-at-end", "1" + "first line\nsecond\nlast")
put("fuzz_range", "blank-lines", "2" + "\n\n\n\nx\n\n")
put("fuzz_range", "one-long-line", "3" + "x" * 700 + "\n" + "y" * 10)
put("fuzz_range", "newline-only", "0" + "\n")
put("fuzz_range", "empty", "0")
put("fuzz_range", "train-svm", b"1" + head_lines(os.path.join(ROOT, "examples/train.svm"), 6))

# --- model files -----------------------------------------------------------------------------
for name in ["heart-lbfgs-np1", "heart-newton-nointercept-np2", "heartcsv-sgd-np2"]:
    with open(os.path.join(ROOT, "tests/golden/expected", name + ".model.json"), "rb") as f:
        put("fuzz_model", name, f.read())
small = {"format": "shardlearn-model", "version": 1, "loss": "logistic", "objective": 0.5,
         "n_features": 3, "fit_intercept": False, "intercept": 0, "weights": [1, -0.5, 2e-300]}
put("fuzz_model", "small", json.dumps(small))
put("fuzz_model", "no-objective-no-loss",
    '{"format": "shardlearn-model", "version": 1, "n_features": 0, "intercept": -1, "weights": []}')
for name, change in [("format", {"format": "other"}), ("version", {"version": 2}),
                     ("loss", {"loss": "hinge"}), ("count", {"n_features": 4}),
                     ("weight", {"weights": [1, "x", 2]}), ("intercept", {"intercept": None}),
                     ("negative", {"n_features": -1})]:
    put("fuzz_model", "bad-" + name, json.dumps(dict(small, **change)))
put("fuzz_model", "zero-based", json.dumps(dict(small, index_base=0)))
put("fuzz_model", "negative-label-0", json.dumps(dict(small, negative_label=0)))
put("fuzz_model", "bad-negative-label", json.dumps(dict(small, negative_label=1)))
put("fuzz_model", "bad-index-base", json.dumps(dict(small, index_base=2)))
put("fuzz_model", "bad-not-json", "{\"format\": \"shardlearn-model\", ")
# The sparse form of the weights (README: Model files), and its malformed kinds.
sparse = {k: v for k, v in small.items() if k != "weights"}
sparse["n_features"] = 10
sparse["weights_sparse"] = {"indices": [0, 4, 9], "values": [1, -0.5, 2e-300]}
put("fuzz_model", "sparse", json.dumps(sparse))
put("fuzz_model", "sparse-empty", json.dumps(dict(sparse, weights_sparse={"indices": [], "values": []})))
for name, ws in [("unsorted", {"indices": [4, 0], "values": [1, 2]}),
                 ("outside", {"indices": [10], "values": [1]}),
                 ("fraction", {"indices": [0.5], "values": [1]}),
                 ("lengths", {"indices": [1, 2], "values": [1]}),
                 ("huge", {"indices": [1e300], "values": [1]})]:
    put("fuzz_model", "bad-sparse-" + name, json.dumps(dict(sparse, weights_sparse=ws)))
put("fuzz_model", "bad-sparse-both", json.dumps(dict(sparse, weights=[0] * 10)))
hashing = {"format": "csv", "delimiter": ",", "header": True, "hash_bits": 1,
           "columns": [{"name": "y", "kind": "label"}, {"name": "città", "kind": "categorical"},
                       {"name": "n", "kind": "numeric"}]}
put("fuzz_model", "hashed", json.dumps(dict(small, hashing=hashing)))
put("fuzz_model", "bad-hashed-width", json.dumps(dict(small, hashing=dict(hashing, hash_bits=2))))
# Multinomial (version 2): K classes, a K x d weights matrix, K intercepts; with hashing too.
multi = {"format": "shardlearn-model", "version": 2, "loss": "multinomial", "objective": 0.25,
         "n_features": 3, "fit_intercept": True, "intercept": 0, "n_classes": 3, "classes": [-2, 1, 4],
         "intercepts": [0.5, -1, 2e-300], "weights": [[1, -0.5, 0], [0, 2, -3], [1e-3, 0, 4]]}
put("fuzz_model", "multinomial", json.dumps(multi))
put("fuzz_model", "multinomial-hashed", json.dumps(dict(multi, hashing=hashing)))
put("fuzz_model", "bad-multinomial-hashed-width", json.dumps(dict(multi, hashing=dict(hashing, hash_bits=2))))
put("fuzz_model", "bad-multinomial-classes", json.dumps(dict(multi, classes=[1, 1, 4])))


# --- state.json (src/track/state.c writes these keys) --------------------------------------------
RUN = "0a1b2c3d4e5f40718293a4b5c6d7e8f9"
state = {"experiment_id": "1", "run_id": RUN,
         "artifact_uri": "mlflow-artifacts:/1/%s/artifacts" % RUN, "acked": 5052,
         "pending_from": -1, "pending_to": -1, "finished_sent": True, "unsettled_until_ms": 0}
put("fuzz_state", "delivered", json.dumps(state, separators=(",", ":")))
put("fuzz_state", "pending", json.dumps(dict(state, acked=1200, pending_from=1200,
                                             pending_to=3400, finished_sent=False),
                                        separators=(",", ":")))
put("fuzz_state", "unsettled", json.dumps(dict(state, acked=0, finished_sent=False,
                                               unsettled_until_ms=1795965400000)))
put("fuzz_state", "new", '{"experiment_id":"","run_id":"","artifact_uri":"","acked":0,'
    '"pending_from":-1,"pending_to":-1,"finished_sent":false,"unsettled_until_ms":0}')
put("fuzz_state", "empty-object", "{}")
put("fuzz_state", "wrong-types", '{"run_id":7,"acked":"12","finished_sent":1,"pending_to":null}')
put("fuzz_state", "not-json", "acked=12\n")

# --- journals: a mode byte (fuzz_journal.c: 0 a new run, 1 a known run with a lost
# log-batch answer), then journal.jsonl (src/track/journal.c writes these records) -----------
# real-run.jsonl is the journal of a real run, kept as it was written (shardlearn train
# --optimizer lbfgs --max-iter 3 --experiment fuzz-exp --run-name seed --register-model
# fuzzmodel --tracking-dir ...); the others are cut from it.
with open(os.path.join(HERE, "real-run.jsonl"), "rb") as f:
    real = f.read()
put("fuzz_journal", "real-run", b"0" + real)
put("fuzz_journal", "real-run-lost-answer", b"1" + real)
lines = real.splitlines(keepends=True)
put("fuzz_journal", "real-run-partial-last-line", b"0" + b"".join(lines[:20]) + lines[20][:25])
put("fuzz_journal", "start-only", b"0" + lines[0])
put("fuzz_journal", "no-start", b"0" + b"".join(lines[1:12]))
start = json.loads(lines[0])
start.pop("experiment_name")
start.pop("run_name")
start["experiment_id"] = "0"
start["resume_run_id"] = "5d0c7a3e9b8f4e21a6c3b2d1e0f9a8b7"
put("fuzz_journal", "resumed", b"0" + json.dumps(start, separators=(",", ":")).encode() + b"\n" +
    b"".join(lines[6:12]) + b"".join(l for l in lines if b'"finish"' in l))
odd = (lines[0] + b'{"type":"metric","key":"m","value":"Infinity","step":1,"timestamp":1,"seq":2}\n'
       b'{"type":"metric","key":"m","value":"NaN","step":2,"timestamp":2,"seq":3}\n'
       b'{"type":"param","key":"p","seq":4}\n{"type":"tag","value":"no key","seq":5}\n'
       b'not json\n\n{"type":"unknown","seq":6}\n{"type":"finish","seq":7}\n')
put("fuzz_journal", "odd-records", b"0" + odd)
put("fuzz_journal", "odd-records-lost-answer", b"1" + odd)

# --- command lines: an option byte (fuzz_options.c), then NUL-separated arguments ---------------
for name, cfg, args in [
        ("train", "0", ["--data", "train.svm", "--optimizer", "lbfgs", "--l2=1e-3", "--zero-based",
                        "--n-features", "2000", "--seed", "9000000000000000000", "--tol", "1e-6"]),
        ("predict-positional", "2", ["model.json", "--format", "csv", "data.csv"]),
        ("help", "0", ["--quiet", "--help"]),
        ("bad-unknown", "0", ["--nope=1"]),
        ("bad-missing-value", "0", ["--data"]),
        ("bad-choice", "0", ["--optimizer", "adam"]),
        ("bad-range", "0", ["--sync-every", "0", "--offset", "-6", "--shift", "1.5"]),
        ("bad-flag-value", "0", ["--quiet=yes"]),
        ("numbers", "1", ["--l2", "0x1p-3", "--lr", "1e-310", "--offset", " -5", "--shift", "-0"]),
]:
    put("fuzz_options", name, cfg + "\0".join(args))
put("fuzz_options", "rules", "0" + "\0".join(["--rule", "val_auc >= -0.002", "--rule=a <= +1%",
                                               "--rule", "", "--rule"]))

# --- gate: an option byte (fuzz_gate.c: 0 a rules file, 1 a metrics.json), then the file ------
put("fuzz_gate", "rules", "0# regression rules\n\nval_auc >= -0.002\nval_logloss <= +1%   # may rise 1%\n"
    "time_total_seconds <= +25% optional\r\nscore >= -1e-3%\n a b|c&<\"> >= 0x1p-3\n")
put("fuzz_gate", "rules-bad", "0val_auc >= -0.002\nval_auc > 1\n")
put("fuzz_gate", "rules-bad-tail", "0val_auc >= 1 optional maybe\n")
put("fuzz_gate", "rules-utf8", "0m\xc3\xa9trique >= 1%\nbad\xff\xfe >= 2\n".encode("latin-1"))
put("fuzz_gate", "metrics", b"1" + json.dumps({
    "objective": 0.27, "train_logloss": 0.21, "accuracy": 0.92, "grad_norm": 2e-8, "iterations": 9,
    "converged": True, "optimizer": "newton", "n_rows": 4000, "n_features": 2000, "nnz": 44779, "ranks": 1,
    "timings": {"load": 0.002, "compute": 0.005, "allreduce": 5e-06, "total": 0.011, "tracking": 0.001,
                "tracking_sender_cpu": 0.0},
    "validation": {"logloss": 0.61, "accuracy": 0.74, "auc": None},
    "history": [{"step": 1, "objective": 0.37, "train_logloss": 0.36, "grad_norm": 0.028, "accuracy": 0.88,
                 "seconds": 0.0005, "allreduce_seconds": 2.9e-07, "passes": 9, "cg_steps": 7,
                 "val_logloss": 0.58, "val_accuracy": 0.7, "val_auc": 0.73}]}).encode())
put("fuzz_gate", "metrics-odd", b'1{"a": {"b": {"c": 1e999}}, "a.b": {"c": 2}, "": 3, "x": [1, 2], "x": 4}')
put("fuzz_gate", "metrics-bad", b'1{"a": 1,\n "b": }')

# --- registry answers: a call byte (fuzz_registry.c), then the server's answers -------------------
RUN = "0a1b2c3d4e5f40718293a4b5c6d7e8f9"
RUN_GET = json.dumps({"run": {"info": {"run_id": RUN, "status": "FINISHED"}, "data": {"metrics": [
    {"key": "val_auc", "value": 0.79, "timestamp": 1, "step": 9},
    {"key": "val_logloss", "value": "NaN", "timestamp": 1, "step": 9},
    {"key": "time_total_seconds", "value": "Infinity", "timestamp": 1, "step": 0},
    {"key": "x", "value": "-Infinity", "timestamp": 1, "step": 0}]}}})
MV = json.dumps({"model_version": {"name": "m", "version": "3", "source": f"runs:/{RUN}/model",
                                   "run_id": RUN, "status": "READY"}})
SEP = "\n~~~\n"
put("fuzz_registry", "run", "0" + RUN_GET)
put("fuzz_registry", "run-missing", "0" + '404 {"error_code": "RESOURCE_DOES_NOT_EXIST", '
    '"message": "Run with id=0a1b not found"}')
put("fuzz_registry", "version", "1" + MV + SEP + RUN_GET)
put("fuzz_registry", "alias", "2" + MV + SEP + "503 busy" + SEP + RUN_GET)
put("fuzz_registry", "alias-missing", "2" + '400 {"error_code": "INVALID_PARAMETER_VALUE", '
    '"message": "Registered model alias champion not found."}')
put("fuzz_registry", "promote-new", "3" + SEP.join([
    '{"registered_model": {"name": "m", "aliases": [{"alias": "champion", "version": "2"}]}}',
    '400 {"error_code": "RESOURCE_ALREADY_EXISTS", "message": "exists"}',
    '{"model_versions": []}', MV, "{}", "{}"]))
put("fuzz_registry", "promote-bootstrap", "3" + SEP.join([
    '404 {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Registered Model with name=m not found"}',
    '{"registered_model": {"name": "m"}}', '{"model_versions": [{"version": "1"}, {"version": "2"}]}',
    "{}", "{}"]))
put("fuzz_registry", "promote-lost-answer", "3" + SEP.join([
    '{"registered_model": {"name": "m"}}', '{"registered_model": {"name": "m"}}',
    '{"model_versions": []}', "001", '{"model_versions": [{"version": "4"}]}', "{}", "{}"]))

RUN_INFO = json.dumps({"run": {"info": {"run_id": RUN, "artifact_uri": f"mlflow-artifacts:/1/{RUN}/artifacts"},
                                "data": {}}})
MODEL_FILE = json.dumps({"format": "shardlearn-model", "version": 1, "n_features": 2, "intercept": 0.5,
                         "weights": [1, -1]})
put("fuzz_registry", "serve-alias", "4" + SEP.join([MV, RUN_INFO, MODEL_FILE]))
put("fuzz_registry", "serve-run", "5" + SEP.join([RUN_INFO, MODEL_FILE]))
put("fuzz_registry", "serve-refresh-same", "6" + MV)
put("fuzz_registry", "serve-refresh-new", "6" + MV.replace('"3"', '"4"') + SEP + RUN_INFO + SEP + MODEL_FILE)
put("fuzz_registry", "serve-run-path", "7" + SEP.join([RUN_INFO, MODEL_FILE]))
put("fuzz_registry", "serve-not-proxied", "5" + json.dumps({"run": {"info": {"run_id": RUN,
                                                             "artifact_uri": "/mlruns/1/x/artifacts"}}}))
put("fuzz_registry", "serve-artifact-missing", "5" + RUN_INFO + SEP + "404 not found")

# --- prediction requests: an option byte (fuzz_serve.c), then the body -----------------------
# bit 0 MLflow, bits 1-2 content type (none/json/csv/plain), bit 3 index_base 0, bits 4-5 width
# (1, 3, 4, 2000), bit 6 hashed columns, bit 7 multinomial (3 classes). Seeds use width 3 (0x10) unless said otherwise.
J, CSV = 0x12, 0x14  # application/json, text/csv; width 3


def serve(name, opt, body):
    put("fuzz_serve", name, bytes([opt]) + body.encode())


serve("vertex-dense", J, '{"instances": [[1, 2.5, -3], [0, 0, 1e-3]]}')
serve("vertex-sparse", J, '{"instances": [{"indices": [0, 2], "values": [1.5, -2]}]}')
serve("vertex-libsvm", J, '{"instances": ["+1 1:0.5 3:2", "2:1e2"], "parameters": {"output": "both"}}')
serve("vertex-libsvm-zero-based", J | 0x08, '{"instances": ["0:0.5 2:2"]}')
serve("vertex-label", J, '{"instances": [[1, 1, 1]], "parameters": {"output": "label"}}')
serve("vertex-no-type", 0x10, '{"instances": [[1, 1, 1]]}')
serve("mlflow-split", J | 1, '{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]]}}')
serve("mlflow-records", J | 1, '{"dataframe_records": [{"a": 1, "b": 2, "c": 3}]}')
serve("mlflow-instances", J | 1, '{"instances": ["1:1 2:2"], "params": {"output": "probability"}}')
serve("mlflow-inputs-columns", J | 1, '{"inputs": {"a": [1, 2], "b": [3, 4], "c": [5, 6]}}')
serve("mlflow-inputs-one-column", 0x02 | 1, '{"inputs": [0.5, 1.5]}')  # width 1
serve("mlflow-csv", CSV | 1, "a,b,c\n1,2,3\r\n4, 5 ,6\n\n")
serve("mlflow-two-keys", J | 1, '{"instances": [], "inputs": []}')
serve("bad-decreasing", J, '{"instances": ["3:1 2:1"]}')
serve("bad-width", J, '{"instances": [[1, 2]]}')
serve("bad-huge", J, '{"instances": [[1e308, -1e308, 1e308]]}')
serve("bad-plain", 0x16, '{"instances": []}')
# The fast path (src/serve/fast.c) and where it must give up to the general path.
serve("fast-sparse-both", J, '{"parameters": {"output": "both"}, "instances": [{"indices": [0, 1, 7], "values": [-0, 1E+2, 0.5e-3]}, [1, 2, 3]]}')
serve("fast-mlflow-inputs", J | 1, '{"inputs": [{"indices": [2], "values": [3]}, {"indices": [], "values": []}]}')
serve("fast-giveup-leading-zero", J, '{"instances": [{"indices": [01], "values": [1]}]}')
serve("fast-giveup-escaped-key", J, '{"instan\\u0063es": [[1, 2, 3]]}')
serve("fast-giveup-other-key", J, '{"instances": [[1, 2, 3]], "id": "a"}')
serve("fast-giveup-values-first", J, '{"instances": [{"values": [1], "indices": [2]}]}')
serve("fast-giveup-trailing-comma", J, '{"instances": [[1, 2, 3],]}')
serve("fast-nan-margin", J, '{"instances": [{"indices": [0, 1], "values": [1e308, 1e308]}]}')
# bit 6: a model of hashed columns (criteo preset, 2^4 + 13 features): raw records.
H = 0x40
serve("hashed-records", H | J | 1, '{"dataframe_records": [{"I1": 3, "C1": "68fd1e64", "C2": null, "I2": ""}]}')
serve("hashed-instances", H | J, '{"instances": [{"I13": "2.5", "C26": "ö日本"}, [' + ", ".join(["0"] * 29) + ']]}')
serve("hashed-split", H | J | 1, '{"dataframe_split": {"columns": ["I1", "C3"], "data": [[1, "x"], ["", ""]]}}')
serve("hashed-csv", H | CSV | 1, "label,I1,C1\n1,4,abc\n0,,\n")
serve("hashed-csv-quoted", H | CSV | 1, 'label,"I1",C1\n1,"4"," a,b "\n0,,""""\n')
serve("hashed-bad", H | J, '{"instances": [{"I1": "abc", "nope": true}]}')
serve("hashed-sparse-form", H | J, '{"instances": [{"indices": [0], "values": [1]}]}')  # a record there
# bit 7: a multinomial model of 3 classes (-2, 1, 4): K probabilities, a class, or both.
MN = 0x80
serve("multi-dense", MN | J, '{"instances": [[1, 2.5, -3], [0, 0, 1e-3]]}')
serve("multi-sparse-both", MN | J, '{"instances": [{"indices": [0, 2], "values": [1.5, -2]}], "parameters": {"output": "both"}}')
serve("multi-libsvm-label", MN | J, '{"instances": ["+1 1:0.5 3:2", "2:1e2"], "parameters": {"output": "label"}}')
serve("multi-mlflow-inputs", MN | J | 1, '{"inputs": [{"indices": [2], "values": [3]}, [1, 1, 1]], "params": {"output": "both"}}')
serve("multi-mlflow-split", MN | J | 1, '{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]]}, "params": {"output": "label"}}')
serve("multi-mlflow-columns", MN | J | 1, '{"inputs": {"a": [1, 2], "b": [3, 4], "c": [5, 6]}}')
serve("multi-csv", MN | CSV | 1, "a,b,c\n1,2,3\r\n4, 5 ,6\n")
serve("multi-overflow", MN | J, '{"instances": [{"indices": [0, 2], "values": [1e308, 1e308]}, [1e308, 1e308, 1e308]]}')
serve("multi-hashed-records", MN | H | J | 1, '{"dataframe_records": [{"I1": 3, "C1": "68fd1e64"}]}')

"""shardlearn serve with a multinomial model (issue #14 item 2): trained on
scikit-learn's wine (3 classes, labels -2/1/4, not 0..K-1), it answers every
instance form of both protocols, through the fast scanner and the general
parser, with the K class probabilities `shardlearn predict --proba` prints
for the same rows (to 1e-12), the classes `shardlearn predict` prints, and
both; /metrics counts instances, not classes; bad requests get their
messages; a multinomial model of the wrong width or with overflowing values
is a 400. A multinomial model of hashed categorical columns keeps its
hashing spec (predict reads the raw CSV) and serve scores raw records (JSON
records, dataframe_split, text/csv) as predict scores the file's lines."""
import json
import os
import tempfile

from sklearn.datasets import load_wine

from serve_common import Server, check, finish, shardlearn, train

tmp = tempfile.TemporaryDirectory(prefix="sl-serve-mn-")
d = tmp.name
X, y = load_wine(return_X_y=True)
X = X / X.std(axis=0)  # raw wine's columns differ by 10^4: scaled as a user would
y = y * 3 - 2  # classes -2, 1, 4
D, N = X.shape[1], len(y)
data = os.path.join(d, "wine.svm")
with open(data, "w") as f:
    for row, label in zip(X, y):
        f.write(f"{label}" + "".join(f" {j + 1}:{v:.17g}" for j, v in enumerate(row) if v) + "\n")
model = train(data, os.path.join(d, "wine.json"), ["--loss", "multinomial", "--l2", "0.01"])
M = json.load(open(model))
check(M["version"] == 2 and M["classes"] == [-2, 1, 4], f"model file: {M['version']} {M.get('classes')}")
K = len(M["classes"])


def predicted(proba):
    out = os.path.join(d, "proba" if proba else "labels")
    p = shardlearn(["predict", "--model", model, "--data", data, "--out", out] + (["--proba"] if proba else []))
    check(p.returncode == 0, p.stderr)
    return [[float(v) for v in line.split()] for line in open(out)] if proba else \
        [int(line) for line in open(out)]


want = predicted(True)
want_labels = predicted(False)
check(len(want) == len(want_labels) == N and all(len(p) == K for p in want), "predict's answers")
check(len(set(want_labels)) == K, f"predict uses all classes: {set(want_labels)}")

lines = open(data).read().splitlines()
features = [" ".join(l.split()[1:]) for l in lines]
dense = [[float(v) for v in row] for row in X]
sparse = [{"indices": [j for j in range(D) if row[j]], "values": [float(v) for v in row if v]} for row in X]
cols = [f"f{j}" for j in range(D)]
instances = 0


def same_proba(got, ref, what):
    """K probabilities per instance, each within 1e-12 of predict --proba's."""
    global instances
    ok = len(got) == len(ref) and all(
        isinstance(g, list) and len(g) == K and all(abs(a - b) <= 1e-12 for a, b in zip(g, w))
        for g, w in zip(got, ref))
    bad = next((i for i, (g, w) in enumerate(zip(got, ref)) if g != w), None)
    worst = max((abs(a - b) for g, w in zip(got, ref) if isinstance(g, list) for a, b in zip(g, w)),
                default=None)
    check(ok, f"{what}: {len(got)} answers for {len(ref)} rows; first difference at {bad}, "
              f"largest {worst}: {got[bad] if bad is not None else ''} vs {ref[bad] if bad is not None else ''}")
    instances += len(got)


def same_labels(got, ref, what, count=True):
    global instances
    bad = next((i for i, (g, w) in enumerate(zip(got, ref)) if g != w or type(g) is not int), None)
    check(len(got) == len(ref) and bad is None, f"{what}: {len(got)} labels for {len(ref)}; first difference at {bad}")
    instances += len(got) if count else 0


with Server(["--model", model, "--threads", 2]) as s:
    check(any(f"({D} features, {K} classes)" in l for l in s.out), f"start line: {s.out}")
    # Vertex AI: every instance form; the fast scanner takes the dense and sparse
    # lists, the general parser the LIBSVM strings and a body with another member.
    same_proba(s.predictions("/predict", {"instances": dense}), want, "vertex, dense arrays (fast)")
    same_proba(s.predictions("/predict", {"instances": sparse}), want, "vertex, sparse objects (fast)")
    same_proba(s.predictions("/predict", {"instances": lines}), want, "vertex, LIBSVM lines with labels")
    same_proba(s.predictions("/predict", {"instances": features}), want, "vertex, LIBSVM features")
    same_proba(s.predictions("/predict", {"instances": dense, "id": 1}), want, "vertex, dense arrays (general)")
    same_proba(s.predictions("/predict", {"instances": sparse, "id": 1}), want, "vertex, sparse objects (general)")
    mixed = [dense[0], sparse[1], features[2], lines[3]]
    same_proba(s.predictions("/predict", {"instances": mixed}), want[:4], "vertex, mixed forms")
    unseen = [features[0] + f" {D + 5}:1", {"indices": sparse[1]["indices"] + [D + 40], "values": sparse[1]["values"] + [3.0]}]
    same_proba(s.predictions("/predict", {"instances": unseen}), want[:2], "vertex, features beyond the model's")
    for body in ({"instances": sparse}, {"instances": features}):  # fast, general
        got = s.predictions("/predict", dict(body, parameters={"output": "label"}))
        same_labels(got, want_labels, "vertex, output=label equals predict")
        got = s.predictions("/predict", dict(body, parameters={"output": "both"}))
        check(all(set(g) == {"label", "probabilities"} for g in got), f"output=both shape: {got[0]}")
        same_proba([g["probabilities"] for g in got], want, "vertex, output=both probabilities")
        same_labels([g["label"] for g in got], want_labels, "vertex, output=both label", count=False)
    got = s.predictions("/predict", {"instances": sparse, "parameters": {"output": "probability"}})
    same_proba(got, want, "vertex, output=probability")

    # MLflow's scoring server: the JSON forms and CSV.
    same_proba(s.predictions("/invocations", {"dataframe_split": {"columns": cols, "data": dense}}), want,
               "mlflow, dataframe_split")
    same_proba(s.predictions("/invocations", {"dataframe_records": [dict(zip(cols, r)) for r in dense]}), want,
               "mlflow, dataframe_records")
    same_proba(s.predictions("/invocations", {"instances": features}), want, "mlflow, instances (LIBSVM)")
    same_proba(s.predictions("/invocations", {"instances": dense}), want, "mlflow, instances (dense, fast)")
    same_proba(s.predictions("/invocations", {"inputs": sparse}), want, "mlflow, inputs (sparse, fast)")
    same_proba(s.predictions("/invocations", {"inputs": {c: [r[j] for r in dense] for j, c in enumerate(cols)}}),
               want, "mlflow, inputs (columns)")
    csv = ",".join(cols) + "\n" + "\n".join(",".join(repr(x) for x in r) for r in dense) + "\n"
    same_proba(s.predictions("/invocations", csv, ctype="text/csv"), want, "mlflow, text/csv")
    import pandas as pd
    df = pd.DataFrame(dense, columns=cols)
    same_proba(s.predictions("/invocations", {"dataframe_split": df.to_dict(orient="split")}), want,
               "mlflow, pandas to_dict(orient='split')")
    same_proba(s.predictions("/invocations", df.to_csv(index=False), ctype="text/csv"), want,
               "mlflow, pandas to_csv")
    same_labels(s.predictions("/invocations", {"dataframe_records": df.to_dict(orient="records"),
                                               "params": {"output": "label"}}),
                want_labels, "mlflow, params.output=label")
    got = s.predictions("/invocations", {"inputs": dense, "params": {"output": "both"}})
    same_proba([g["probabilities"] for g in got], want, "mlflow, params.output=both probabilities")
    same_labels([g["label"] for g in got], want_labels, "mlflow, output=both label", count=False)
    same_proba(s.predictions("/invocations", {"instances": []}), [], "an empty list")

    # Bad requests: the binary messages hold for K classes too.
    bad = [
        ("/predict", {"instances": [[1.0, 2.0]]}, 400, f"2 values for a model of {D} features"),
        ("/predict", {"instances": ["5:1 3:1"]}, 400, "does not increase"),
        ("/predict", {"instances": [[1e308] * D]}, 400, "margin overflows"),
        ("/predict", {"instances": [{"indices": list(range(D)), "values": [1e308] * D}]}, 400, "margin overflows"),
        ("/invocations", {"inputs": sparse[:1], "params": {"output": "classes"}}, 400, "parameters.output"),
    ]
    for path, body, code, msg in bad:
        st, _, text = s.call("POST", path, body)
        err = json.loads(text)
        check(st == code and msg in err.get("message", ""), f"POST {path} {str(body)[:60]!r}: {st} {text[:160]!r}")
    same_proba(s.predictions("/predict", {"instances": features[:3]}), want[:3], "after the bad requests")

    m = s.metrics()
    check(m.get("shardlearn_instances_scored_total") == instances,
          f"instances scored {m.get('shardlearn_instances_scored_total')}, sent {instances} (K = {K})")

# Hashed categorical columns: the model file keeps its "hashing" (predict reads the raw CSV by
# it) and serve takes raw records, as for a binary model.
raw = os.path.join(d, "shops.csv")
rng = __import__("random").Random(7)
with open(raw, "w") as f:
    f.write("label,city,n1,n2\n")
    for i in range(90):
        c = rng.randrange(3)
        f.write(f"{[-1, 0, 5][c]},{rng.choice(['Zürich', 'Bern', 'Basel', 'Genf'][c:c + 2])},"
                f"{rng.gauss(c, 1):.6g},{'' if i % 7 == 0 else rng.randrange(4)}\n")
hm = train(raw, os.path.join(d, "shops.json"), ["--format", "csv", "--categorical", "city", "--hash-bits", "5",
                                                 "--loss", "multinomial", "--l2", "0.01"])
HM = json.load(open(hm))
check(HM["classes"] == [-1, 0, 5] and "hashing" in HM, f"hashed model file: {HM.get('classes')} {list(HM)}")
outs = {}
for proba in (True, False):
    out = os.path.join(d, f"shops.{proba}")
    p = shardlearn(["predict", "--model", hm, "--data", raw, "--out", out] + (["--proba"] if proba else []))
    check(p.returncode == 0, f"predict on the raw CSV with a hashed multinomial model: {p.stderr}")
    outs[proba] = [[float(v) for v in l.split()] if proba else int(l) for l in open(out)] if p.returncode == 0 else []
raw_lines = open(raw).read().splitlines()
head = raw_lines[0].split(",")
records = []  # as a client sends them: numbers as JSON numbers, a missing n2 as ""
for line in raw_lines[1:]:
    _, city, n1, n2 = line.split(",")
    records.append({"city": city, "n1": float(n1), "n2": int(n2) if n2 else ""})
with Server(["--model", hm]) as s:
    instances = 0
    same_proba(s.predictions("/predict", {"instances": records}), outs[True], "hashed, vertex records")
    same_proba(s.predictions("/invocations", open(raw, "rb").read(), ctype="text/csv"), outs[True], "hashed, text/csv")
    got = s.predictions("/invocations", {"dataframe_split": {"columns": head[1:], "data": [list(r.values()) for r in records]},
                                         "params": {"output": "both"}})
    same_proba([g["probabilities"] for g in got], outs[True], "hashed, dataframe_split both")
    same_labels([g["label"] for g in got], outs[False], "hashed, dataframe_split label", count=False)
    same_labels(s.predictions("/invocations", {"dataframe_records": records, "params": {"output": "label"}}),
                outs[False], "hashed, dataframe_records label")
    m = s.metrics()
    check(m.get("shardlearn_instances_scored_total") == instances, f"hashed: instances scored {m}")
finish()

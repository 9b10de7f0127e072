"""shardlearn serve, both protocols with every instance form: a model trained
on examples/train.svm answers the rows of examples/test.svm exactly as
`shardlearn predict` does (the same %.17g numbers); every bad request gets
its status and a JSON message; /metrics and the access log count what was
sent; slow and surplus connections are bounded."""
import json
import os
import socket
import tempfile
import time

from serve_common import TEST, TRAIN, Server, check, finish, predict, rows, train

tmp = tempfile.TemporaryDirectory(prefix="sl-serve-")
d = tmp.name
model = train(TRAIN, os.path.join(d, "model.json"))
with open(model) as f:
    M = json.load(f)
D = M["n_features"]
want = predict(model, TEST)
want_labels = predict(model, TEST, proba=False)
R = rows(TEST)
check(len(R) == len(want) == 1000, f"{len(R)} rows, {len(want)} predictions")
check("index_base" not in M, "a 1-based model file has no index_base key (as before)")

lines = [l.rstrip("\n") for l in open(TEST)]
features = [" ".join(l.split()[1:]) for l in lines]
sparse = [{"indices": [j - 1 for j, _ in r], "values": [x for _, x in r]} for _, r in R]


def dense(r):
    x = [0.0] * D
    for j, v in r:
        if j - 1 < D:
            x[j - 1] = v
    return x


N_DENSE = 40  # rows as 2000-wide arrays
dense_rows = [dense(r) for _, r in R[:N_DENSE]]
log_path = os.path.join(d, "access.log")
sent = {"/predict": 0, "/invocations": 0}
instances = 0


def same(got, ref, what):
    global instances
    ok = len(got) == len(ref) and all(g == w for g, w in zip(got, ref))
    bad = next((i for i, (g, w) in enumerate(zip(got, ref)) if g != w), None)
    check(ok, f"{what}: {len(got)} answers for {len(ref)} rows; first difference at {bad}")
    instances += len(got)


with Server(["--model", model, "--access-log", log_path, "--max-body", 4 << 20, "--threads", 2]) as s:
    t0 = time.time()
    # Vertex AI: every instance form, alone and mixed in one request.
    same(s.predictions("/predict", {"instances": lines}), want, "vertex, LIBSVM lines with labels")
    same(s.predictions("/predict", {"instances": features}), want, "vertex, LIBSVM features")
    same(s.predictions("/predict", {"instances": sparse}), want, "vertex, sparse objects")
    same(s.predictions("/predict", {"instances": dense_rows}), want[:N_DENSE], "vertex, dense arrays")
    # Features the model never saw weigh 0, as in shardlearn predict.
    unseen = [features[0] + " 5000:1 99999:2", {"indices": sparse[1]["indices"] + [4000], "values": sparse[1]["values"] + [3.0]}]
    same(s.predictions("/predict", {"instances": unseen}), want[:2], "vertex, features beyond the model's")
    sent["/predict"] += 1
    qid = [l.split()[0] + " qid:7 " + f for l, f in zip(lines, features)]
    same(s.predictions("/predict", {"instances": qid}), want, "vertex, LIBSVM lines with qid")
    sent["/predict"] += 1
    mixed = [dense_rows[0], sparse[1], features[2]]
    same(s.predictions("/predict", {"instances": mixed, "parameters": {}}), want[:3], "vertex, mixed forms")
    sent["/predict"] += 5
    got = s.predictions("/predict", {"instances": features, "parameters": {"output": "label"}})
    same(got, want_labels, "vertex, output=label equals predict without --proba")
    got = s.predictions("/predict", {"instances": features[:50], "parameters": {"output": "both"}})
    same([g["probability"] for g in got], want[:50], "vertex, output=both probability")
    same([g["label"] for g in got], want_labels[:50], "vertex, output=both label")
    instances -= 50
    sent["/predict"] += 2

    # MLflow's scoring server: the four JSON forms and CSV.
    cols = [f"f{j}" for j in range(D)]
    same(s.predictions("/invocations", {"dataframe_split": {"columns": cols, "data": dense_rows}}),
         want[:N_DENSE], "mlflow, dataframe_split")
    same(s.predictions("/invocations", {"dataframe_records": [dict(zip(cols, r)) for r in dense_rows[:10]]}),
         want[:10], "mlflow, dataframe_records")
    same(s.predictions("/invocations", {"instances": features}), want, "mlflow, instances")
    same(s.predictions("/invocations", {"inputs": sparse}), want, "mlflow, inputs (sparse)")
    same(s.predictions("/invocations", {"inputs": {c: [r[j] for r in dense_rows[:5]] for j, c in enumerate(cols)}}),
         want[:5], "mlflow, inputs (columns)")
    csv = ",".join(cols) + "\n" + "\n".join(",".join(repr(x) for x in r) for r in dense_rows) + "\n"
    same(s.predictions("/invocations", csv, ctype="text/csv"), want[:N_DENSE], "mlflow, text/csv")
    # As pandas writes them, the way clients of `mlflow models serve` send frames.
    import pandas as pd
    df = pd.DataFrame(dense_rows[:10], columns=cols)
    same(s.predictions("/invocations", {"dataframe_split": df.to_dict(orient="split")}), want[:10],
         "mlflow, pandas to_dict(orient='split') with its index")
    same(s.predictions("/invocations", {"dataframe_records": df.to_dict(orient="records")}), want[:10],
         "mlflow, pandas to_dict(orient='records')")
    same(s.predictions("/invocations", pd.DataFrame(dense_rows[:10]).to_csv(index=False), ctype="text/csv"),
         want[:10], "mlflow, pandas to_csv (header 0,1,2,...)")
    sent["/invocations"] += 3
    got = s.predictions("/invocations", {"instances": features[:20], "params": {"output": "label"}})
    same(got, want_labels[:20], "mlflow, params.output=label")
    sent["/invocations"] += 7
    same(s.predictions("/invocations", {"instances": []}), [], "an empty list")
    sent["/invocations"] += 1
    print(f"scored both protocols in {time.time() - t0:.2f} s", flush=True)

    # Health, version.
    for path in ("/health", "/ping"):
        st, _, _ = s.call("GET", path)
        check(st == 200, f"GET {path}: {st}")
    st, _, text = s.call("GET", "/version")
    check(st == 200 and text.count(".") == 2, f"/version: {st} {text!r}")

    # Bad requests: status and a JSON message.
    bad = [
        ("/predict", "{\"instances\": [", "application/json", 400, "not valid JSON"),
        ("/predict", "[]", "application/json", 400, "not a JSON object"),
        ("/predict", {"rows": []}, "application/json", 400, "\"instances\" is not an array"),
        ("/predict", {"instances": [[1.0, 2.0]]}, "application/json", 400, "2 values for a model of 2000"),
        ("/predict", {"instances": ["5:1 3:1"]}, "application/json", 400, "does not increase"),
        ("/predict", {"instances": ["0:1"]}, "application/json", 400, "INDEX from 1"),
        ("/predict", {"instances": ["3:x"]}, "application/json", 400, "INDEX:VALUE"),
        ("/predict", {"instances": ["abc 3:1"]}, "application/json", 400, "'abc' is not INDEX:VALUE"),
        ("/predict", {"instances": ["1 2 3:1"]}, "application/json", 400, "'2' is not INDEX:VALUE"),
        ("/predict", {"instances": [{"indices": [-1], "values": [1]}]}, "application/json", 400, "feature number"),
        ("/predict", {"instances": [{"indices": [1, 2], "values": [1]}]}, "application/json", 400, "2 indices but 1"),
        ("/predict", {"instances": [{"indices": [3], "values": ["a"]}]}, "application/json", 400, "finite number"),
        ("/predict", {"instances": [True]}, "application/json", 400, "not an array of 2000"),
        ("/predict", {"instances": [features[0]], "parameters": {"output": "logit"}}, "application/json", 400,
         "parameters.output"),
        ("/predict", "{}", "text/plain", 415, "application/json or text/csv"),
        ("/invocations", {"instances": [], "inputs": []}, "application/json", 400, "exactly one of"),
        ("/invocations", {"dataframe_split": {"columns": ["a"]}}, "application/json", 400, "needs \"data\""),
        ("/invocations", "a,b\n1,2\n", "text/csv", 400, "CSV line 2: 2 values"),
        ("/invocations", "h\n" + ",".join(["1"] * (D - 1)) + ",zz\n", "text/csv", 400, "CSV line 2: value 2000"),
    ]
    for path, body, ctype, code, msg in bad:
        st, hdr, text = s.call("POST", path, body, ctype=ctype)
        try:
            err = json.loads(text)
        except ValueError:
            err = {}
        check(st == code and msg in err.get("message", "") and err.get("error_code"),
              f"POST {path} {str(body)[:60]!r}: {st} {text[:160]!r}, want {code} with {msg!r}")
        sent[path] += 1
    st, _, text = s.call("GET", "/no/such/route")
    check(st == 404 and "message" in json.loads(text), f"unknown route: {st} {text}")
    st, hdr, text = s.call("GET", "/predict")
    check(st == 405 and hdr.get("Allow") == "POST", f"GET /predict: {st} {hdr}")
    st, hdr, text = s.call("POST", "/ping", "{}")
    check(st == 405, f"POST /ping: {st}")
    st, hdr, text = s.call("DELETE", "/invocations")
    check(st == 405, f"DELETE /invocations: {st}")
    sent["/predict"] += 1
    sent["/invocations"] += 1
    # 413: a declared length over the limit, and a chunked body that grows past it.
    big = json.dumps({"instances": [features[0]] * 200000})
    check(len(big) > 4 << 20, "the big body is over the limit")
    # Answered from the headers, before the body is sent (as a client that
    # sends Expect: 100-continue waits for): the body is never read.
    c = socket.create_connection(("127.0.0.1", s.port))
    c.sendall(f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(big)}\r\nExpect: 100-continue\r\n\r\n".encode())
    c.settimeout(10)
    head = c.recv(4096).decode()
    c.close()
    check(head.startswith("HTTP/1.1 413") and "larger than 4194304 bytes" in head,
          f"413 from Content-Length: {head[:200]!r}")

    def chunks():
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536].encode()

    import http.client
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    c.request("POST", "/predict", body=chunks(), headers={"Content-Type": "application/json"},
              encode_chunked=True)
    r = c.getresponse()
    check(r.status == 413, f"413 chunked: {r.status}")
    r.read()
    c.close()
    sent["/predict"] += 2
    # Still serving after all that.
    same(s.predictions("/predict", {"instances": features[:3]}), want[:3], "after the bad requests")
    sent["/predict"] += 1

    # /metrics counts what was sent.
    m = s.metrics()
    total = {p: sum(v for k, v in m.items() if k.startswith(f'shardlearn_requests_total{{route="{p}"'))
             for p in sent}
    check(total == {p: float(n) for p, n in sent.items()}, f"requests by route {total}, sent {sent}")
    check(m.get('shardlearn_requests_total{route="/predict",code="413"}') == 2, "two 413 counted")
    check(m.get('shardlearn_requests_total{route="other",code="404"}') == 1, "one 404 counted")
    check(m.get("shardlearn_instances_scored_total") == instances,
          f"instances scored {m.get('shardlearn_instances_scored_total')}, sent {instances}")
    info = [k for k in m if k.startswith("shardlearn_model_info{")]
    check(len(info) == 1 and f'source="{model}"' in info[0] and 'n_features="2000"' in info[0], f"model info {info}")
    n_pred = m.get('shardlearn_request_duration_seconds_count{route="/predict"}')
    check(n_pred == sent["/predict"], f"latency histogram count {n_pred}")
    check(m.get('shardlearn_request_duration_seconds_bucket{route="/predict",le="+Inf"}') == n_pred, "+Inf bucket")

    # Slow clients: a connection that stalls mid-headers is closed after
    # --conn-timeout (30 s default; this server: see the second one below).
st = s.stop()
check(st == 0, f"serve exit {st}: {s.err}")
log = open(log_path).read().splitlines()
check(len(log) == sum(sent.values()) + 6, f"{len(log)} access-log lines, sent {sent}")  # + health, ping, version, 404, POST /ping, metrics
check(any('"POST /predict" 413' in l for l in log), "the log has the 413")
check(all(len(l.split()) == 8 for l in log), f"log line shape: {log[:2]}")

# Connection bounds: beyond --max-connections a connection waits unserved
# while the others are open; a stalled client is cut after --conn-timeout,
# which lets the waiting one in.
with Server(["--model", model, "--conn-timeout", 2, "--max-connections", 2, "--threads", 1]) as s:
    t0 = time.time()
    slow = socket.create_connection(("127.0.0.1", s.port))
    slow.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    idle = socket.create_connection(("127.0.0.1", s.port))
    time.sleep(0.3)
    third = socket.create_connection(("127.0.0.1", s.port))
    third.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    third.settimeout(0.7)
    try:
        early = third.recv(100)
    except socket.timeout:
        early = None
    check(early is None, f"a third connection over --max-connections 2 was answered: {early!r}")
    slow.settimeout(10)
    try:
        cut = slow.recv(100) == b""
    except OSError:
        cut = True
    waited = time.time() - t0
    check(cut and 0.9 < waited < 8, f"a stalled request was not closed after --conn-timeout 2 ({waited:.1f} s)")
    third.settimeout(10)
    late = third.recv(100)
    check(late.startswith(b"HTTP/1.1 200"), f"the waiting connection was served once a slot freed: {late!r}")
    for x in (slow, idle, third):
        x.close()
    same(s.predictions("/predict", {"instances": features[:2]}), want[:2], "served after the bounds")

# A --zero-based model records index_base 0 and reads LIBSVM strings so.
zb_train, zb_test = os.path.join(d, "train0.svm"), os.path.join(d, "test0.svm")
for src, dst in ((TRAIN, zb_train), (TEST, zb_test)):
    with open(src) as f, open(dst, "w") as g:
        for line in f:
            p = line.split()
            g.write(" ".join([p[0]] + [f"{int(a) - 1}:{b}" for a, b in (t.split(":") for t in p[1:])]) + "\n")
zb = train(zb_train, os.path.join(d, "model0.json"), ["--zero-based"])
check(json.load(open(zb)).get("index_base") == 0, "index_base 0 in a --zero-based model file")
want0 = predict(zb, zb_test, extra=["--zero-based"])
check(want0 == want, "the zero-based model predicts as the one-based one")
with Server(["--model", zb]) as s:
    zb_features = [" ".join(l.split()[1:]) for l in open(zb_test)]
    same(s.predictions("/predict", {"instances": zb_features}), want0, "zero-based LIBSVM strings")
    same(s.predictions("/predict", {"instances": sparse}), want0, "sparse objects are 0-based for every model")
    st, _, text = s.call("POST", "/predict", {"instances": ["0:1 1999:1"]})
    check(st == 200, f"index 0 in a zero-based model: {st} {text}")

# A model trained on 0/1 labels answers labels 0/1, as predict writes them.
b01 = os.path.join(d, "train01.svm")
with open(TRAIN) as f, open(b01, "w") as g:
    for line in f:
        lab, rest = line.split(" ", 1)
        g.write(("1" if lab == "+1" else "0") + " " + rest)
m01 = train(b01, os.path.join(d, "model01.json"))
check(json.load(open(m01)).get("negative_label") == 0, "negative_label 0 in a model trained on 0/1")
check("negative_label" not in json.load(open(model)), "no negative_label in a model trained on +1/-1")
want01 = [1 if x == 1 else 0 for x in want_labels]
with Server(["--model", m01]) as s:
    got = s.predictions("/predict", {"instances": features, "parameters": {"output": "label"}})
    same(got, want01, "a 0/1 model's labels are 0/1")
    got = s.predictions("/invocations", {"instances": features[:5], "params": {"output": "both"}})
    same([g["label"] for g in got], want01[:5], "a 0/1 model's labels in output=both")
finish()

"""An MLflow pyfunc model that scores sparse rows with a saved scikit-learn
LogisticRegression: the serving benchmark's second MLflow server, which gets
the rows as compact as shardlearn does (MLflow's sklearn flavour takes dense
rows only). Request: {"inputs": {"indptr": [...], "indices": [...],
"values": [...]}}, CSR arrays of the rows (0-based indices); answer: the
positive class's probability per row. The sklearn model is the artifact
"sklearn"; scripts/bench/serve_bench.py saves this with code_paths."""
import mlflow.pyfunc
import numpy as np
import scipy.sparse as sp


class SparseLogReg(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        import mlflow.sklearn
        self.model = mlflow.sklearn.load_model(context.artifacts["sklearn"])
        self.d = int(self.model.n_features_in_)

    def predict(self, context, model_input, params=None):
        indptr = np.asarray(model_input["indptr"], dtype=np.int64)
        X = sp.csr_matrix((np.asarray(model_input["values"], dtype=np.float64),
                           np.asarray(model_input["indices"], dtype=np.int64), indptr),
                          shape=(indptr.size - 1, self.d))
        return self.model.predict_proba(X)[:, 1]

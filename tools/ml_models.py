"""ML-style losses as people write them in NumPy, for ``bench_ml.py``.

Each loss is written once.  s2s reads this source; JAX runs the same source
re-executed with ``np`` bound to ``jax.numpy`` (see ``bench_ml.as_jax``), so
both differentiate exactly the same code.
"""

import numpy as np


def mlp_cross_entropy(W1, b1, W2, b2, X, labels):
    """A one-hidden-layer MLP, softmax cross-entropy with the max subtracted (``labels`` one-hot)."""
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    logits = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(np.sum(labels * log_probs, axis=1))


def layer_norm_loss(gamma, beta, X, target):
    """Layer normalization over the features, then a squared error."""
    mu = np.mean(X, axis=-1, keepdims=True)
    var = np.mean((X - mu) ** 2, axis=-1, keepdims=True)
    Y = gamma * (X - mu) / np.sqrt(var + 1e-5) + beta
    return np.mean((Y - target) ** 2)


def attention_loss(Wq, Wk, Wv, X, target):
    """Single-head self-attention over a sequence (rows of ``X``), then a squared error."""
    Q = X @ Wq
    K = X @ Wk
    V = X @ Wv
    scores = Q @ K.T / np.sqrt(Q.shape[1])
    scores = scores - np.max(scores, axis=1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / np.sum(weights, axis=1, keepdims=True)
    out = weights @ V
    return np.sum((out - target) ** 2)


def logistic_loss(w, b, X, y):
    """Logistic regression's mean negative log-likelihood with an L2 penalty (``y`` in {0, 1})."""
    z = X @ w + b
    return np.mean(np.logaddexp(0.0, z) - y * z) + 1e-3 * np.sum(w * w)

"""ADBench's objectives (Microsoft's benchmark of AD tools), ported to NumPy for ``bench_adbench.py``.

Each objective is written once, as its users write NumPy.  s2s reads this source; JAX and autograd run the
same source re-executed with ``np`` bound to ``jax.numpy`` or ``autograd.numpy`` (``bench_adbench.as_peer``),
so all three differentiate the same code, except where a port says otherwise:

* GMM: the Gaussian mixture's negative log-likelihood with a Wishart prior on the inverse covariance factors,
  as ADBench's Python ports compute it (whole arrays), and as ADBench's loop code computes it (a point, a
  component, a coordinate at a time), which only s2s runs: JAX would trace 250,000 iterations.
* BA: bundle adjustment's reprojection residual of one observation (Rodrigues rotation, radial distortion), as
  ADBench computes it, with its branch for a zero rotation; JAX (which cannot branch on a traced value) and
  autograd (which has no ``vmap``: the whole-array form) run it without the branch, which no rotation here
  takes.
* LSTM: ADBench's LSTM with two layers (its smaller configuration), the layers written out; JAX's port runs the
  same step with ``lax.scan``, as JAX users write a recurrence (a Python loop of 1,023 steps would be traced
  step by step).
* Hand tracking is not ported: its objective skins a hand mesh from ADBench's model files, which are not
  in this repository.
"""

import math

import numpy as np

# -- GMM -------------------------------------------------------------------------------------------------------


def gmm_objective(alphas, means, icf, x, wishart_gamma, wishart_m, scatter):
    """ADBench's GMM objective, whole arrays: ``icf`` holds each component's log-diagonal, then its strictly
    lower triangle column by column, of the inverse covariance's Cholesky factor; ``scatter`` (``gmm_scatter``)
    places that triangle in a d x d matrix."""
    n, d = x.shape
    k = alphas.shape[0]
    q_diags = np.exp(icf[:, :d])
    sum_qs = np.sum(icf[:, :d], axis=1)
    columns = []
    for c in range(k):
        lower = (scatter @ icf[c, d:]).reshape(d, d)
        centered = x - means[c]
        transformed = centered * q_diags[c] + centered @ lower.T
        columns.append(alphas[c] + sum_qs[c] - 0.5 * np.sum(transformed * transformed, axis=1))
    inner = np.stack(columns, axis=1)
    top = np.max(inner, axis=1)
    lse = np.log(np.sum(np.exp(inner - top[:, None]), axis=1)) + top
    alpha_top = np.max(alphas)
    lse_alphas = np.log(np.sum(np.exp(alphas - alpha_top))) + alpha_top
    prior = _wishart_prior(d, wishart_gamma, wishart_m, sum_qs, q_diags, icf)
    return -n * d * 0.5 * math.log(2 * math.pi) + np.sum(lse) - n * lse_alphas + prior


def gmm_scatter(d):
    """The 0/1 matrix taking a strictly lower triangle, stored column by column, to a d x d matrix's entries."""
    scatter = np.zeros((d * d, d * (d - 1) // 2))
    index = 0
    for col in range(d):
        for row in range(col + 1, d):
            scatter[row * d + col, index] = 1.0
            index += 1
    return scatter


def _wishart_prior(d, wishart_gamma, wishart_m, sum_qs, q_diags, icf):
    """The log of the Wishart prior, less its constant (which no derivative sees)."""
    frobenius = np.sum(q_diags ** 2, axis=1) + np.sum(icf[:, d:] ** 2, axis=1)
    return np.sum(0.5 * wishart_gamma * wishart_gamma * frobenius - wishart_m * sum_qs)


def gmm_objective_loops(alphas, means, icf, x, wishart_gamma, wishart_m):
    """The same objective as ADBench's loop code computes it: the diagonals' exponentials once, then per point
    and component the centered point and its transform a coordinate at a time, and the log-sum-exp over the
    components by hand."""
    n, d = x.shape
    k = alphas.shape[0]
    sum_qs = np.zeros(k)
    q_diags = np.zeros((k, d))
    for c in range(k):
        for i in range(d):
            sum_qs[c] += icf[c, i]
            q_diags[c, i] = math.exp(icf[c, i])
    total = 0.0
    inner = np.zeros(k)
    centered = np.zeros(d)
    for p in range(n):
        for c in range(k):
            for i in range(d):
                centered[i] = x[p, i] - means[c, i]
            sq = 0.0
            for i in range(d):
                value = q_diags[c, i] * centered[i]
                for j in range(i):
                    value += icf[c, d + j * (2 * d - j - 1) // 2 + i - j - 1] * centered[j]
                sq += value * value
            inner[c] = alphas[c] + sum_qs[c] - 0.5 * sq
        top = inner[0]
        for c in range(1, k):
            top = max(top, inner[c])
        s = 0.0
        for c in range(k):
            s += math.exp(inner[c] - top)
        total += math.log(s) + top
    alpha_top = alphas[0]
    for c in range(1, k):
        alpha_top = max(alpha_top, alphas[c])
    s = 0.0
    for c in range(k):
        s += math.exp(alphas[c] - alpha_top)
    prior = 0.0
    for c in range(k):
        frobenius = 0.0
        for i in range(d):
            frobenius += q_diags[c, i] * q_diags[c, i]
        for i in range(d, icf.shape[1]):
            frobenius += icf[c, i] * icf[c, i]
        prior += 0.5 * wishart_gamma * wishart_gamma * frobenius - wishart_m * sum_qs[c]
    return -n * d * 0.5 * math.log(2 * math.pi) + total - n * (math.log(s) + alpha_top) + prior


# -- BA --------------------------------------------------------------------------------------------------------


def ba_residual(cam, point, weight, feature):
    """One observation's weighted reprojection error (2 entries).  ``cam``: Rodrigues rotation (3), centre (3),
    focal length, principal point (2), radial distortion (2)."""
    rot = cam[0:3]
    x = point - cam[3:6]
    sqtheta = rot[0] * rot[0] + rot[1] * rot[1] + rot[2] * rot[2]
    if sqtheta != 0.0:
        theta = np.sqrt(sqtheta)
        w = rot / theta
        cos_t, sin_t = np.cos(theta), np.sin(theta)
        cross = np.array([w[1] * x[2] - w[2] * x[1], w[2] * x[0] - w[0] * x[2], w[0] * x[1] - w[1] * x[0]])
        rotated = x * cos_t + cross * sin_t + w * ((1.0 - cos_t) * (w[0] * x[0] + w[1] * x[1] + w[2] * x[2]))
    else:
        rotated = x + np.array([rot[1] * x[2] - rot[2] * x[1], rot[2] * x[0] - rot[0] * x[2],
                                rot[0] * x[1] - rot[1] * x[0]])
    projected = rotated[0:2] / rotated[2]
    rsq = projected[0] * projected[0] + projected[1] * projected[1]
    distortion = 1.0 + cam[9] * rsq + cam[10] * rsq * rsq
    return weight * (projected * distortion * cam[6] + cam[7:9] - feature)


def ba_residual_smooth(cam, point, weight, feature):
    """``ba_residual`` for a non-zero rotation, without the branch (for JAX's ``vmap``)."""
    rot = cam[0:3]
    x = point - cam[3:6]
    theta = np.sqrt(rot[0] * rot[0] + rot[1] * rot[1] + rot[2] * rot[2])
    w = rot / theta
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    cross = np.array([w[1] * x[2] - w[2] * x[1], w[2] * x[0] - w[0] * x[2], w[0] * x[1] - w[1] * x[0]])
    rotated = x * cos_t + cross * sin_t + w * ((1.0 - cos_t) * (w[0] * x[0] + w[1] * x[1] + w[2] * x[2]))
    projected = rotated[0:2] / rotated[2]
    rsq = projected[0] * projected[0] + projected[1] * projected[1]
    distortion = 1.0 + cam[9] * rsq + cam[10] * rsq * rsq
    return weight * (projected * distortion * cam[6] + cam[7:9] - feature)


def ba_weight_error(weight):
    """ADBench's penalty keeping an observation's weight near 1."""
    return 1.0 - weight * weight


def ba_residuals(cams, points, weights, features):
    """Every observation's reprojection error at once (``cams`` and ``points`` gathered per observation): the
    whole-array form of ``ba_residual`` for a tool without ``vmap``."""
    rot = cams[:, 0:3]
    x = points - cams[:, 3:6]
    theta = np.sqrt(np.sum(rot * rot, axis=1, keepdims=True))
    w = rot / theta
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    cross = np.stack([w[:, 1] * x[:, 2] - w[:, 2] * x[:, 1], w[:, 2] * x[:, 0] - w[:, 0] * x[:, 2],
                      w[:, 0] * x[:, 1] - w[:, 1] * x[:, 0]], axis=1)
    rotated = x * cos_t + cross * sin_t + w * ((1.0 - cos_t) * np.sum(w * x, axis=1, keepdims=True))
    projected = rotated[:, 0:2] / rotated[:, 2:3]
    rsq = np.sum(projected * projected, axis=1, keepdims=True)
    distortion = 1.0 + cams[:, 9:10] * rsq + cams[:, 10:11] * rsq * rsq
    return weights[:, None] * (projected * distortion * cams[:, 6:7] + cams[:, 7:9] - features)


# -- LSTM ------------------------------------------------------------------------------------------------------


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_layer(x, hidden, cell, weight, bias):
    """One LSTM layer's step: ``weight`` and ``bias`` hold the four gates' (4 x b each)."""
    forget = _sigmoid(x * weight[0] + bias[0])
    ingate = _sigmoid(hidden * weight[1] + bias[1])
    outgate = _sigmoid(x * weight[2] + bias[2])
    change = np.tanh(hidden * weight[3] + bias[3])
    cell = cell * forget + ingate * change
    return outgate * np.tanh(cell), cell


def lstm_step(main_params, extra_params, h0, c0, h1, c1, x):
    """Both layers' step on the character ``x``: the log-probabilities of the next one, and the new state."""
    h0, c0 = lstm_layer(x * extra_params[0], h0, c0, main_params[0, 0], main_params[0, 1])
    h1, c1 = lstm_layer(h0, h1, c1, main_params[1, 0], main_params[1, 1])
    prediction = h1 * extra_params[1] + extra_params[2]
    return prediction - np.log(np.sum(np.exp(prediction)) + 2.0), h0, c0, h1, c1


def lstm_objective(main_params, extra_params, state, sequence):
    """ADBench's LSTM loss (two layers): ``main_params[layer]`` holds the weights and biases of the four gates,
    ``extra_params`` the input weight, output weight and output bias, ``state[layer]`` the hidden state and
    cell; the mean cross-entropy of each next character of ``sequence`` (one-hot rows)."""
    h0, c0, h1, c1 = state[0, 0], state[0, 1], state[1, 0], state[1, 1]
    total = 0.0
    for t in range(sequence.shape[0] - 1):
        normalized, h0, c0, h1, c1 = lstm_step(main_params, extra_params, h0, c0, h1, c1, sequence[t])
        total += np.sum(sequence[t + 1] * normalized)
    return -total / ((sequence.shape[0] - 1) * sequence.shape[1])

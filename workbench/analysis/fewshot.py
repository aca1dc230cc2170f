"""Learning from a few labels on frozen embeddings: propagate them to every image, and suggest what to label next.

- `propagate`: a classifier fitted on the labelled rows predicts a class and a confidence for every row. "probe" is
  a multinomial logistic regression (the linear-probe evaluation of Chen et al. 2020; probe.py returns only an
  accuracy and standardises per feature, which misleads with few labels, so this fit is its own); "knn" is the
  similarity-weighted vote of the k most cosine-similar labelled rows (Wu et al. 2018, as in knn.py, here in numpy
  with probabilities and without torch).
- What to label next, three rankings of the unlabelled rows: `rank_uncertain` (lowest margin between the two most
  probable classes first: the classifier is least sure there), `rank_outliers` (highest outlier score first, scores
  from outliers.py), `k_center_greedy` (each pick the row farthest from every labelled or picked row, Sener &
  Savarese 2018: a spread-out set that covers the embedding; O(N * (labelled + picks)) distances, never all pairs).

Pure numpy (+ sklearn for the probe, imported inside); distances are cosine distances, 1 - cos, as in neighbours.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workbench.analysis.neighbours import normalize_rows
from workbench.errors import Cancelled

METHODS = ("probe", "knn")
BATCH = 4096


@dataclass
class Propagation:
    """Row i's predicted class `predicted[i]` with probability `confidence[i]`; `probabilities` (N, C) float32."""

    predicted: np.ndarray  # int64 (N,)
    confidence: np.ndarray  # float32 (N,), the top class's probability
    probabilities: np.ndarray  # float32 (N, C), rows sum to 1
    method: str

    @property
    def margin(self) -> np.ndarray:
        return margins(self.probabilities)


def _check(features: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(ids, dtype=np.int64).reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"features must be (N, D) with one id per row, got {x.shape} and {y.shape[0]} ids.")
    labelled = np.flatnonzero(y >= 0)
    if len(np.unique(y[labelled])) < 2:
        raise ValueError("propagation needs labelled rows of at least 2 classes.")
    return x, y, int(y.max()) + 1


def propagate(
    features: np.ndarray,
    ids: np.ndarray,
    method: str = "probe",
    *,
    num_classes: int | None = None,
    k: int = 20,
    temperature: float = 0.07,
    c: float = 1.0,
    max_iter: int = 1000,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Propagation:
    """Fit on the rows with ids[i] >= 0 (features (N, D), ids int (N,), -1 unlabelled) and predict every row.

    num_classes (default max id + 1) sets the probability columns; a class without labelled rows gets 0.
    Cancellable between batches (Cancelled)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got '{method}'.")
    x, y, c_seen = _check(features, ids)
    n_classes = max(num_classes or 0, c_seen)
    labelled = np.flatnonzero(y >= 0)
    if method == "probe":
        scores = _probe_scorer(x, labelled, y[labelled], n_classes, c=c, max_iter=max_iter, seed=seed)
    else:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}.")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        scores = _knn_scorer(x[labelled], y[labelled], n_classes, k=k, temperature=temperature)
    probs = np.zeros((x.shape[0], n_classes), dtype=np.float32)
    for start in range(0, x.shape[0], BATCH):
        if should_stop is not None and should_stop():
            raise Cancelled("Propagation was cancelled.")
        probs[start : start + BATCH] = scores(x[start : start + BATCH])
        if progress is not None:
            progress(min(start + BATCH, x.shape[0]), x.shape[0])
    predicted = probs.argmax(axis=1).astype(np.int64)
    return Propagation(predicted, probs.max(axis=1), probs, method)


def _probe_scorer(
    x: np.ndarray, rows: np.ndarray, y: np.ndarray, n_classes: int, *, c: float, max_iter: int, seed: int
) -> Callable[[np.ndarray], np.ndarray]:
    """Logistic regression on the labelled `rows` of x, after SimpleShot's CL2N (Wang et al. 2019): centred on the
    mean of every row, each row scaled to norm sqrt(D). Not per-feature standardisation (as probe.py does with
    thousands of labels): with a handful of labels it gives near-constant noise features the weight of real ones, and
    the fit follows their noise; one scale for all features keeps the angles the SSL loss shaped."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    if c <= 0:
        raise ValueError(f"c (inverse regularisation strength) must be positive, got {c}.")
    mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    scale = np.float32(np.sqrt(x.shape[1]))

    def prepare(batch: np.ndarray) -> np.ndarray:
        return normalize_rows(batch - mean) * scale

    model = LogisticRegression(C=c, solver="lbfgs", max_iter=max_iter, tol=1e-4, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # an unconverged probe still ranks well
        model.fit(prepare(x[rows]), y)
    columns = model.classes_.astype(np.int64)

    def scores(batch: np.ndarray) -> np.ndarray:
        out = np.zeros((batch.shape[0], n_classes), dtype=np.float32)
        out[:, columns] = model.predict_proba(prepare(batch))
        return out

    return scores


def _knn_scorer(
    x: np.ndarray, y: np.ndarray, n_classes: int, *, k: int, temperature: float
) -> Callable[[np.ndarray], np.ndarray]:
    bank = normalize_rows(x)  # (L, D)
    k = min(k, bank.shape[0])

    def scores(batch: np.ndarray) -> np.ndarray:
        sim = normalize_rows(batch) @ bank.T  # (B, L) cosine similarities
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]  # (B, k) the k most similar labelled rows
        weights = np.exp(
            (np.take_along_axis(sim, top, axis=1) - 1.0) / temperature
        )  # shifted by the max cos: no overflow
        out = np.zeros((batch.shape[0], n_classes), dtype=np.float64)
        np.add.at(out, (np.repeat(np.arange(batch.shape[0]), k), y[top].reshape(-1)), weights.reshape(-1))
        return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)

    return scores


# ---- what to label next ---------------------------------------------------------------------------------------------
def margins(probabilities: np.ndarray) -> np.ndarray:
    """float32 (N,): the most probable class's probability minus the second's (1 with a single column)."""
    p = np.asarray(probabilities, dtype=np.float32)
    if p.shape[1] < 2:
        return np.ones(p.shape[0], dtype=np.float32)
    top2 = -np.partition(-p, 1, axis=1)[:, :2]
    return (top2[:, 0] - top2[:, 1]).astype(np.float32)


def _unlabelled(n: int, labelled: np.ndarray | None) -> np.ndarray:
    """The rows not labelled; `labelled` is a bool (N,) mask or int (N,) ids with -1 unlabelled (None: no row)."""
    if labelled is None:
        return np.arange(n)
    values = np.asarray(labelled).reshape(-1)
    if values.shape[0] != n:
        raise ValueError(f"labelled has {values.shape[0]} entries for {n} rows.")
    return np.flatnonzero(~values if values.dtype == bool else values < 0)


def rank_uncertain(
    probabilities: np.ndarray, labelled: np.ndarray | None = None, count: int | None = None
) -> np.ndarray:
    """Unlabelled rows, lowest margin first (ties: lower row first); `labelled` a bool mask or ids (-1 unlabelled)."""
    m = margins(probabilities)
    rows = _unlabelled(m.shape[0], labelled)
    return rows[np.argsort(m[rows], kind="stable")][:count]


def rank_outliers(scores: np.ndarray, labelled: np.ndarray | None = None, count: int | None = None) -> np.ndarray:
    """Unlabelled rows, highest outlier score first (ties: lower row first)."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    rows = _unlabelled(s.shape[0], labelled)
    return rows[np.argsort(-s[rows], kind="stable")][:count]


def k_center_greedy(
    features: np.ndarray,
    count: int,
    labelled: np.ndarray | None = None,
    *,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Up to `count` unlabelled rows, each the farthest (cosine distance) from its nearest labelled or already picked
    row; with nothing labelled, the row nearest the mean direction comes first. Ties go to the lower row. Stops early
    when every remaining row duplicates a centre (distance 0). int64 (picks,)."""
    unit = normalize_rows(features)
    n = unit.shape[0]
    if count < 0:
        raise ValueError(f"count must be at least 0, got {count}.")
    centres = np.setdiff1d(np.arange(n), _unlabelled(n, labelled))
    nearest = np.full(n, np.inf, dtype=np.float32)  # each row's distance to its nearest centre
    for start in range(0, len(centres), 256):  # (N, 256) distances at a time
        block = unit[centres[start : start + 256]]
        nearest = np.minimum(nearest, (1.0 - unit @ block.T).min(axis=1))
        if should_stop is not None and should_stop():
            raise Cancelled("Suggesting was cancelled.")
    picks: list[int] = []
    if len(centres) == 0 and n > 0 and count > 0:
        mean = normalize_rows(unit.mean(axis=0, keepdims=True))[0]
        first = int(np.argmax(unit @ mean))
        picks.append(first)
        nearest = 1.0 - unit @ unit[first]
    nearest[centres] = 0.0  # exactly 0, whatever rounding said
    if picks:
        nearest[picks[0]] = 0.0
    while len(picks) < min(count, n - len(centres)):
        if should_stop is not None and should_stop():
            raise Cancelled("Suggesting was cancelled.")
        pick = int(np.argmax(nearest))
        if nearest[pick] <= 0.0:
            break
        picks.append(pick)
        nearest = np.minimum(nearest, 1.0 - unit @ unit[pick])
        nearest[pick] = 0.0
    return np.array(picks, dtype=np.int64)


__all__ = ["METHODS", "Propagation", "k_center_greedy", "margins", "propagate", "rank_outliers", "rank_uncertain"]

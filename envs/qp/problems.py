"""The seven OSQP benchmark QP classes (Stellato et al. 2020, ``osqp_benchmarks``), with an rng.

Every generator returns a :class:`QP` ``min 0.5 x'Px + q'x s.t. l <= Ax <= u`` with sparse P, A.
``sprandn(r, c, d)`` below is a sparse r x c matrix with density d and N(0, 1) entries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp


@dataclass
class QP:
    """A QP instance; ``name`` says which class and size it came from."""

    P: sp.csc_matrix
    q: np.ndarray
    A: sp.csc_matrix
    l: np.ndarray
    u: np.ndarray
    name: str = ""

    @property
    def n(self) -> int:
        return self.P.shape[0]

    @property
    def m(self) -> int:
        return self.A.shape[0]


def sprandn(rows: int, cols: int, density: float, rng: np.random.Generator) -> sp.csc_matrix:
    return sp.random(rows, cols, density=density, data_rvs=rng.standard_normal, random_state=rng,
                     format="csc")


def random_qp(n: int, rng: np.random.Generator) -> QP:
    """P = MM' + 0.01 I, M = sprandn(n, n, .15); A = sprandn(10n, n, .15); u = Av + U[0,1); l = -inf."""
    m = 10 * n
    M = sprandn(n, n, 0.15, rng)
    P = (M @ M.T + 1e-2 * sp.eye(n)).tocsc()
    q = rng.standard_normal(n)
    A = sprandn(m, n, 0.15, rng)
    v = rng.standard_normal(n)
    u = A @ v + rng.random(m)
    return QP(P, q, A, -np.inf * np.ones(m), u, f"random_qp_{n}")


def eq_qp(n: int, rng: np.random.Generator) -> QP:
    """P, q as Random QP; A = sprandn(n/2, n, .15); l = u = A x*, x* ~ N(0, I)."""
    m = n // 2
    M = sprandn(n, n, 0.15, rng)
    P = (M @ M.T + 1e-2 * sp.eye(n)).tocsc()
    q = rng.standard_normal(n)
    A = sprandn(m, n, 0.15, rng)
    b = A @ rng.standard_normal(n)
    return QP(P, q, A, b, b.copy(), f"eq_qp_{n}")


def portfolio(k: int, rng: np.random.Generator) -> QP:
    """k factors, n = 100k assets: min x'Dx + y'y - mu'x, 1'x = 1, F'x = y, 0 <= x <= 1."""
    n = 100 * k
    F = sprandn(n, k, 0.5, rng)
    D = sp.diags(rng.random(n) * np.sqrt(k))
    mu = rng.standard_normal(n)
    P = sp.block_diag([2 * D, 2 * sp.eye(k)], format="csc")
    q = np.concatenate([-mu, np.zeros(k)])           # gamma = 1
    A = sp.vstack([sp.hstack([sp.csc_matrix(np.ones((1, n))), sp.csc_matrix((1, k))]),
                   sp.hstack([F.T, -sp.eye(k)]),
                   sp.hstack([sp.eye(n), sp.csc_matrix((n, k))])], format="csc")
    l = np.concatenate([[1.0], np.zeros(k), np.zeros(n)])
    u = np.concatenate([[1.0], np.zeros(k), np.ones(n)])
    return QP(P, q, A, l, u, f"portfolio_{k}")


def lasso(n: int, rng: np.random.Generator) -> QP:
    """m = 100n data: min y'y + lambda 1't, Ad x - y = b, -t <= x <= t (vars x, y, t)."""
    m = 100 * n
    Ad = sprandn(m, n, 0.15, rng)
    x_true = (rng.standard_normal(n) > 0.5) * rng.standard_normal(n) / np.sqrt(n)
    b = Ad @ x_true + rng.standard_normal(m)
    lam = 0.2 * np.abs(Ad.T @ b).max()
    P = sp.block_diag([sp.csc_matrix((n, n)), 2 * sp.eye(m), sp.csc_matrix((n, n))], format="csc")
    q = np.concatenate([np.zeros(n + m), lam * np.ones(n)])
    In = sp.eye(n)
    A = sp.vstack([sp.hstack([Ad, -sp.eye(m), sp.csc_matrix((m, n))]),
                   sp.hstack([In, sp.csc_matrix((n, m)), -In]),
                   sp.hstack([In, sp.csc_matrix((n, m)), In])], format="csc")
    l = np.concatenate([b, -np.inf * np.ones(n), np.zeros(n)])
    u = np.concatenate([b, np.zeros(n), np.inf * np.ones(n)])
    return QP(P, q, A, l, u, f"lasso_{n}")


def huber(n: int, rng: np.random.Generator) -> QP:
    """m = 100n data with 5% outliers: min z'z/2... as a QP in (x, z, r, s):
    min 0.5 z'z + 1'r + 1's, Ad x - z - r + s = b, r >= 0, s >= 0."""
    m = 100 * n
    Ad = sprandn(m, n, 0.15, rng)
    x_true = rng.standard_normal(n) / np.sqrt(n)
    ind95 = rng.random(m) < 0.95
    b = Ad @ x_true + np.where(ind95, 0.5 * rng.standard_normal(m), 10.0 * rng.standard_normal(m))
    P = sp.block_diag([sp.csc_matrix((n, n)), sp.eye(m), sp.csc_matrix((2 * m, 2 * m))], format="csc")
    q = np.concatenate([np.zeros(n + m), np.ones(2 * m)])
    Im = sp.eye(m)
    A = sp.vstack([sp.hstack([Ad, -Im, -Im, Im]),
                   sp.hstack([sp.csc_matrix((2 * m, n + m)), sp.eye(2 * m)])], format="csc")
    l = np.concatenate([b, np.zeros(2 * m)])
    u = np.concatenate([b, np.inf * np.ones(2 * m)])
    return QP(P, q, A, l, u, f"huber_{n}")


def svm(n: int, rng: np.random.Generator) -> QP:
    """m = 100n points in two shifted classes: min 0.5 x'x + 0.5 1't, diag(b) A x - t <= -1, t >= 0."""
    m = 100 * n
    N = m // 2
    upp, low = sprandn(N, n, 0.15, rng), sprandn(N, n, 0.15, rng)
    Ad = sp.vstack([upp / np.sqrt(n) + (upp != 0).astype(float) / n,
                    low / np.sqrt(n) - (low != 0).astype(float) / n], format="csc")
    b = np.concatenate([np.ones(N), -np.ones(N)])
    P = sp.block_diag([sp.eye(n), sp.csc_matrix((m, m))], format="csc")
    q = np.concatenate([np.zeros(n), 0.5 * np.ones(m)])
    A = sp.vstack([sp.hstack([sp.diags(b) @ Ad, -sp.eye(m)]),
                   sp.hstack([sp.csc_matrix((m, n)), sp.eye(m)])], format="csc")
    l = np.concatenate([-np.inf * np.ones(m), np.zeros(m)])
    u = np.concatenate([-np.ones(m), np.inf * np.ones(m)])
    return QP(P, q, A, l, u, f"svm_{n}")


def control(n: int, rng: np.random.Generator, horizon: int = 10) -> QP:
    """MPC with nx = n states, nu = n/2 inputs, T = 10: dynamics equalities and state/input boxes."""
    nx, nu, T = n, max(n // 2, 1), horizon
    Ad = (sp.eye(nx) + 0.1 * sprandn(nx, nx, 1.0, rng)).toarray()
    lam, V = np.linalg.eig(Ad)
    big = np.abs(lam) >= 1 - 1e-2                     # keep the dynamics (marginally) stable
    lam[big] = lam[big] / (np.abs(lam[big]) + 1e-2)
    Ad = (V @ np.diag(lam) @ np.linalg.inv(V)).real
    B = sprandn(nx, nu, 1.0, rng).toarray()
    R = 0.1 * np.eye(nu)
    Q = np.diag(rng.random(nx) * (rng.random(nx) < 0.7))
    S = sla.solve_discrete_are(Ad, B, Q, R)
    QN = S @ S.T
    umax = rng.random(nu)
    xmax = 1.0 + rng.random(nx)
    x0 = -0.5 * xmax + rng.random(nx) * xmax
    P = 2.0 * sp.block_diag([sp.kron(sp.eye(T), Q), sp.csc_matrix(QN), sp.kron(sp.eye(T), R)],
                            format="csc")
    q = np.zeros((T + 1) * nx + T * nu)
    Ax = sp.kron(sp.eye(T + 1), -sp.eye(nx)) + sp.kron(sp.eye(T + 1, k=-1), sp.csc_matrix(Ad))
    Au = sp.kron(sp.vstack([sp.csc_matrix((1, T)), sp.eye(T)]), sp.csc_matrix(B))
    beq = np.zeros((T + 1) * nx)
    beq[:nx] = -x0
    A = sp.vstack([sp.hstack([Ax, Au]), sp.eye((T + 1) * nx + T * nu)], format="csc")
    l = np.concatenate([beq, np.tile(-xmax, T + 1), np.tile(-umax, T)])
    u = np.concatenate([beq, np.tile(xmax, T + 1), np.tile(umax, T)])
    return QP(P, q, A, l, u, f"control_{n}")


GENERATORS: dict[str, Callable[[int, np.random.Generator], QP]] = {
    "random_qp": random_qp, "eq_qp": eq_qp, "portfolio": portfolio, "lasso": lasso,
    "huber": huber, "svm": svm, "control": control,
}


def generate(cls: str, size: int, seed: int | np.random.Generator) -> QP:
    """One instance of class ``cls`` (a key of :data:`GENERATORS`) with size parameter ``size``."""
    if cls not in GENERATORS:
        raise KeyError(f"unknown QP class {cls!r}; choose one of {sorted(GENERATORS)}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return GENERATORS[cls](size, rng)


def load_maros_meszaros(path: str) -> QP:
    """A Maros-Meszaros problem stored as a MATLAB .mat file (fields P, q, r, A, l, u).

    Variable bounds are already rows of A; |bound| >= 1e20 means infinite.
    """
    from pathlib import Path

    import scipy.io as sio

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"Maros-Meszaros file {p} does not exist")
    d = sio.loadmat(p)
    missing = [k for k in ("P", "q", "A", "l", "u") if k not in d]
    if missing:
        raise ValueError(f"{p} lacks field(s) {missing}; expected P, q, A, l, u")
    l = np.asarray(d["l"], dtype=float).ravel()
    u = np.asarray(d["u"], dtype=float).ravel()
    l[l <= -1e20] = -np.inf
    u[u >= 1e20] = np.inf
    return QP(sp.csc_matrix(d["P"], dtype=float), np.asarray(d["q"], dtype=float).ravel(),
              sp.csc_matrix(d["A"], dtype=float), l, u, p.stem)

"""An ADMM QP solver that reproduces OSQP 1.x iterate for iterate (Stellato et al. 2020).

Problem: minimise 0.5 x'Px + q'x subject to l <= Ax <= u (P PSD, n x n; A m x n).

One iteration (OSQP Alg. 1, alpha = over-relaxation, rho = per-constraint rho_vec):

    (P + sigma I + A' diag(rho) A) x~ = sigma x^k - q + A'(rho * z^k - y^k),   z~ = A x~
    x^{k+1} = alpha x~ + (1 - alpha) x^k
    z^{k+1} = Pi_[l,u](alpha z~ + (1 - alpha) z^k + y^k / rho)
    y^{k+1} = y^k + rho * (alpha z~ + (1 - alpha) z^k - z^{k+1})

(the reduced form of OSQP's quasi-definite KKT system; both give the same iterates). Everything
else follows OSQP 1.1.x (``src/scaling.c``, ``src/auxil.c``, ``src/osqp_api.c``): Ruiz scaling with
the 1.x column-norm quirk (P's column norms over its stored upper triangle), rho_vec classes on
the scaled bounds, residuals and tolerances in unscaled terms, the duality-gap test, primal and
dual infeasibility certificates, the adaptive-rho estimate with its x5 gate, termination checks
every ``check_termination`` iterations, the x10 "inaccurate" test at ``max_iter`` and polishing.
``tests/test_rlqp_solver.py`` checks iteration counts, statuses and solutions against ``osqp``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

OSQP_INFTY = 1e30
RHO_MIN, RHO_MAX = 1e-6, 1e6
RHO_TOL = 1e-4                 # u - l below this (scaled) makes a row an equality
RHO_EQ_OVER_RHO_INEQ = 1e3
MIN_SCALING, MAX_SCALING = 1e-4, 1e4
DIVISION_TOL = 1.0 / OSQP_INFTY
ZERO_DEADZONE = 1e-15
INF_BOUND = OSQP_INFTY * MIN_SCALING   # |scaled bound| above this counts as infinite
_potrs = sla.lapack.get_lapack_funcs("potrs", (np.zeros(1),))
DENSE_LIMIT = 1500                     # reduced KKT of this size or less: dense Cholesky
DENSE_DATA = 200_000                   # m * n at most: keep A and P as dense arrays (faster matvecs)


class Status:
    """OSQP's termination statuses (``osqp`` spells them with spaces: see ``OSQP_NAMES``)."""

    SOLVED = "solved"
    SOLVED_INACCURATE = "solved_inaccurate"
    PRIMAL_INFEASIBLE = "primal_infeasible"
    PRIMAL_INFEASIBLE_INACCURATE = "primal_infeasible_inaccurate"
    DUAL_INFEASIBLE = "dual_infeasible"
    DUAL_INFEASIBLE_INACCURATE = "dual_infeasible_inaccurate"
    MAX_ITER_REACHED = "max_iter_reached"
    NON_CONVEX = "non_convex"
    UNSOLVED = "unsolved"

    OSQP_NAMES = {"solved": SOLVED, "solved inaccurate": SOLVED_INACCURATE,
                  "primal infeasible": PRIMAL_INFEASIBLE,
                  "primal infeasible inaccurate": PRIMAL_INFEASIBLE_INACCURATE,
                  "dual infeasible": DUAL_INFEASIBLE,
                  "dual infeasible inaccurate": DUAL_INFEASIBLE_INACCURATE,
                  "maximum iterations reached": MAX_ITER_REACHED,
                  "problem non convex": NON_CONVEX, "unsolved": UNSOLVED}


@dataclass
class Settings:
    """OSQP 1.x settings and defaults (``osqp_api_constants.h``)."""

    rho: float = 0.1
    sigma: float = 1e-6
    alpha: float = 1.6
    scaling: int = 10
    adaptive_rho: bool = True
    adaptive_rho_interval: int = 50
    adaptive_rho_tolerance: float = 5.0
    max_iter: int = 4000
    eps_abs: float = 1e-3
    eps_rel: float = 1e-3
    eps_prim_inf: float = 1e-4
    eps_dual_inf: float = 1e-4
    check_termination: int = 25
    check_dualgap: bool = True
    polishing: bool = False
    delta: float = 1e-6
    polish_refine_iter: int = 3


class QPDataError(ValueError):
    """The QP data are malformed (shapes, NaN, l > u, P not square or not PSD)."""


class NonConvexError(QPDataError):
    """The KKT matrix P + sigma I + A' diag(rho) A could not be factorised: P is not PSD."""


@dataclass
class Result:
    """Unscaled solution and solver information."""

    x: np.ndarray
    y: np.ndarray
    status: str
    iterations: int
    refactorizations: int
    solve_time: float
    obj_val: float
    prim_res: float
    dual_res: float
    rho_updates: int
    polished: bool = False
    prim_inf_cert: np.ndarray | None = None
    dual_inf_cert: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


class RhoPolicy(Protocol):
    """Called at every adaptation point; returns a scalar rho or a per-constraint rho vector."""

    def __call__(self, solver: ADMM) -> float | np.ndarray: ...


def _as_csc(M: Any, name: str) -> sp.csc_matrix:
    M = sp.csc_matrix(M, dtype=np.float64)
    if not np.isfinite(M.data).all():
        raise QPDataError(f"{name} contains NaN or inf entries")
    return M


def check_vectors(n: int, m: int, q: Any, l: Any, u: Any):
    """Shape and value checks of q, l, u; returns float64 arrays with bounds clipped to +-1e30."""
    q = np.asarray(q, dtype=np.float64).reshape(-1)
    if q.shape != (n,):
        raise QPDataError(f"q has {q.size} entries but P is {n} x {n}")
    if not np.isfinite(q).all():
        raise QPDataError("q contains NaN or inf entries")
    l = np.asarray(l if l is not None else np.zeros(0), dtype=np.float64).reshape(-1)
    u = np.asarray(u if u is not None else np.zeros(0), dtype=np.float64).reshape(-1)
    if l.shape != (m,) or u.shape != (m,):
        raise QPDataError(f"l and u need {m} entries (rows of A), got {l.size} and {u.size}")
    if np.isnan(l).any() or np.isnan(u).any():
        raise QPDataError("l or u contains NaN")
    if (l > u).any():
        i = int(np.flatnonzero(l > u)[0])
        raise QPDataError(f"l > u in row {i} ({l[i]} > {u[i]}): the bounds are inconsistent")
    return q, np.clip(l, -OSQP_INFTY, OSQP_INFTY), np.clip(u, -OSQP_INFTY, OSQP_INFTY)


def check_matrices(P_shape: tuple[int, int], A_shape: tuple[int, int]) -> None:
    n = P_shape[0]
    if P_shape != (n, n):
        raise QPDataError(f"P must be square, got shape {P_shape}")
    if A_shape[1] != n:
        raise QPDataError(f"A has {A_shape[1]} columns but P is {n} x {n}")


def check_psd(min_eigenvalue: float, P_absmax: float) -> None:
    if min_eigenvalue < -1e-7 * max(1.0, P_absmax):
        raise QPDataError(f"P is not positive semidefinite (smallest eigenvalue {min_eigenvalue:.3g}); "
                          "OSQP solves convex QPs only")


def validate(P: Any, q: Any, A: Any, l: Any, u: Any, psd: bool = True):
    """Check and convert the data; returns (P_triu, q, A, l, u) with bounds clipped to +-1e30."""
    P = _as_csc(P, "P")
    n = P.shape[0]
    A = _as_csc(A if A is not None else sp.csc_matrix((0, n)), "A")
    check_matrices(P.shape, A.shape)
    q, l, u = check_vectors(n, A.shape[0], q, l, u)
    triu = sp.triu(P, format="csc")
    if psd and n:
        full = triu + sp.triu(P, k=1, format="csc").T
        check_psd(_min_eigenvalue(full), abs(full).max())
    return triu, q, A, l, u


def _min_eigenvalue(P: sp.csc_matrix) -> float:
    if P.shape[0] <= 1000:
        return float(np.linalg.eigvalsh(P.toarray())[0])
    return float(spla.eigsh(P, k=1, which="SA", return_eigenvectors=False, tol=1e-6)[0])


def _limit(v: np.ndarray) -> np.ndarray:
    """OSQP's limit_scaling: values < 1e-4 -> 1, values > 1e4 -> 1e4."""
    v = np.where(v < MIN_SCALING, 1.0, v)
    return np.minimum(v, MAX_SCALING)


def _col_norm_inf(M: sp.csc_matrix) -> np.ndarray:
    return abs(M).max(axis=0).toarray().ravel() if M.shape[0] else np.zeros(M.shape[1])


def _row_norm_inf(M: sp.csc_matrix) -> np.ndarray:
    return abs(M).max(axis=1).toarray().ravel() if M.shape[1] else np.zeros(M.shape[0])


def ruiz_scale(P_triu: sp.csc_matrix, q: np.ndarray, A: sp.csc_matrix, passes: int):
    """Ruiz equilibration of [P A'; A 0] plus cost scaling (``scale_data`` in OSQP 1.x).

    Per pass: D_t = 1/sqrt(max(colnorm(P_triu), colnorm(A))), E_t = 1/sqrt(rownorm(A)) (each
    limited), P <- D_t P D_t, A <- E_t A D_t, q <- D_t q; then c_t = 1 / limit(max(mean
    colnorm(P_triu), limit(||q||_inf))), P <- c_t P, q <- c_t q. Returns (P, q, A, D, E, c).
    """
    n, m = A.shape[1], A.shape[0]
    D, E, c = np.ones(n), np.ones(m), 1.0
    for _ in range(passes):
        d = 1.0 / np.sqrt(_limit(np.maximum(_col_norm_inf(P_triu), _col_norm_inf(A))))
        e = 1.0 / np.sqrt(_limit(_row_norm_inf(A))) if m else np.ones(0)
        Dd, Ed = sp.diags(d), sp.diags(e)
        P_triu = (Dd @ P_triu @ Dd).tocsc()
        A = (Ed @ A @ Dd).tocsc()
        q = q * d
        D, E = D * d, E * e
        c_mean = _col_norm_inf(P_triu).sum() / n if n else 0.0
        q_norm = float(_limit(np.array([np.abs(q).max() if n else 0.0]))[0])
        c_t = 1.0 / float(_limit(np.array([max(c_mean, q_norm)]))[0])
        P_triu = P_triu * c_t
        q = q * c_t
        c *= c_t
    return P_triu, q, A, D, E, c


class ADMM:
    """OSQP's ADMM on one QP. Use :meth:`solve`, or :meth:`run` chunk by chunk (the RL env)."""

    def __init__(self, P: Any, q: Any, A: Any, l: Any, u: Any,
                 settings: Settings | None = None, psd_check: bool = True) -> None:
        t0 = time.perf_counter()
        self.settings = s = settings or Settings()
        P_triu, q, A, l, u = validate(P, q, A, l, u, psd_check)
        self.n, self.m = A.shape[1], A.shape[0]
        self.data_unscaled = (P_triu, q, A, l, u)
        if s.scaling:
            P_triu, q, A, self.D, self.E, self.c = ruiz_scale(P_triu, q, A, s.scaling)
        else:
            self.D, self.E, self.c = np.ones(self.n), np.ones(self.m), 1.0
        self.P = (P_triu + sp.triu(P_triu, k=1).T).tocsr()      # full symmetric, scaled
        self.A, self.At = A.tocsr(), A.T.tocsr()
        if self.m * self.n <= DENSE_DATA and self.n <= DENSE_LIMIT:
            self.P, self.A = self.P.toarray(), self.A.toarray()
            self.At = self.A.T.copy()
        self.q, self.l, self.u = q, l * self.E, u * self.E
        self.loose = (self.l < -INF_BOUND) & (self.u > INF_BOUND)
        self.eq = ~self.loose & (self.u - self.l < RHO_TOL)
        self.x, self.z, self.y = np.zeros(self.n), np.zeros(self.m), np.zeros(self.m)
        self.delta_x, self.delta_y = np.zeros(self.n), np.zeros(self.m)
        self.iter = 0
        self.refactorizations = 0
        self.rho_updates = 0
        self.status = Status.UNSOLVED
        self.set_rho(s.rho)
        self.setup_time = time.perf_counter() - t0
        self._info: dict[str, float] = {}

    # ------------------------------------------------------------------ rho
    def rho_vec_for(self, rho: float) -> np.ndarray:
        """OSQP's rule: loose rows RHO_MIN, equalities 1e3 * rho, inequalities rho."""
        rho = min(max(rho, RHO_MIN), RHO_MAX)
        vec = np.full(self.m, rho)
        vec[self.eq] = RHO_EQ_OVER_RHO_INEQ * rho
        vec[self.loose] = RHO_MIN
        return vec

    def set_rho(self, rho: float) -> None:
        """Set the scalar rho (clipped to [1e-6, 1e6]), rebuild rho_vec and refactor."""
        self.rho = min(max(float(rho), RHO_MIN), RHO_MAX)
        self.set_rho_vec(self.rho_vec_for(self.rho))

    def set_rho_vec(self, rho_vec: np.ndarray) -> None:
        """Set a per-constraint rho (clipped to [1e-6, 1e6]) and refactor the KKT system."""
        self.rho_vec = np.clip(np.asarray(rho_vec, dtype=np.float64), RHO_MIN, RHO_MAX)
        self._factorize()

    def _factorize(self) -> None:
        if isinstance(self.A, np.ndarray):
            M = self.P + self.At @ (self.rho_vec[:, None] * self.A)
            M[np.diag_indices(self.n)] += self.settings.sigma
        else:
            M = self.P + self.settings.sigma * sp.eye(self.n) + self.At @ sp.diags(self.rho_vec) @ self.A
        if self.n <= DENSE_LIMIT:
            M = M if isinstance(M, np.ndarray) else M.toarray()
            try:
                self._chol = sla.cho_factor(M, lower=True, check_finite=False)
            except np.linalg.LinAlgError as err:
                raise NonConvexError(f"P + sigma I + A' diag(rho) A is not positive definite ({err}): "
                                     "P is not PSD, the problem is non-convex (build the solver with "
                                     "psd_check=True to reject it at setup)") from err
            self._lu = None
        else:
            self._lu = spla.splu(M.tocsc(), permc_spec="MMD_AT_PLUS_A")
        self.refactorizations += 1

    def _kkt_solve(self, rhs: np.ndarray) -> np.ndarray:
        if self._lu is None:  # LAPACK potrs directly: cho_solve's argument checks cost more here
            x, info = _potrs(self._chol[0], rhs, lower=1)
            assert info == 0, "Cholesky solve failed"
            return x
        return self._lu.solve(rhs)

    # ------------------------------------------------------------------ iteration
    def iterate(self) -> None:
        """One ADMM iteration (module docstring), updating x, z, y and delta_x, delta_y."""
        a, s = self.settings.alpha, self.settings
        x_prev, z_prev = self.x, self.z
        x_t = self._kkt_solve(s.sigma * x_prev - self.q + self.At @ (self.rho_vec * z_prev - self.y))
        z_t = self.A @ x_t
        self.x = a * x_t + (1 - a) * x_prev
        self.delta_x = self.x - x_prev
        z_relaxed = a * z_t + (1 - a) * z_prev
        self.z = np.clip(z_relaxed + self.y / self.rho_vec, self.l, self.u)
        self.delta_y = self.rho_vec * (z_relaxed - self.z)
        self.y = self.y + self.delta_y
        self.iter += 1

    # ------------------------------------------------------------------ residuals
    def update_info(self) -> dict[str, float]:
        """Residuals (unscaled), objective and duality gap of the current iterate (``update_info``)."""
        Ax = self.A @ self.x
        Px = self.P @ self.x
        Aty = self.At @ self.y
        r_p = Ax - self.z
        r_d = self.q + Px + Aty
        Einv, Dinv, cinv = 1.0 / self.E, 1.0 / self.D, 1.0 / self.c
        y_pol = _project_polar_reccone(self.y.copy(), self.l, self.u)
        y_pol[np.abs(y_pol) < ZERO_DEADZONE] = 0.0
        sup = float(self.u @ np.maximum(y_pol, 0) + self.l @ np.minimum(y_pol, 0))
        xPx, qx = float(Px @ self.x), float(self.q @ self.x)
        info = {"Ax": Ax, "Px": Px, "Aty": Aty,
                "scaled_prim_res": _norm(r_p), "scaled_dual_res": _norm(r_d),
                "prim_res": _norm(Einv * r_p) if self.m else 0.0,
                "dual_res": cinv * _norm(Dinv * r_d),
                "obj_val": cinv * (0.5 * xPx + qx), "duality_gap": cinv * (xPx + qx + sup),
                "xPx": xPx, "qx": qx, "sup": sup}
        self._info = info
        return info

    def check_termination(self, approximate: bool = False) -> bool:
        """OSQP's ``check_termination``; sets :attr:`status` and returns True when it stops."""
        s, info = self.settings, self._info
        if info["prim_res"] > OSQP_INFTY or info["dual_res"] > OSQP_INFTY:
            self.status = Status.NON_CONVEX
            return True
        k = 10.0 if approximate else 1.0
        eps_abs, eps_rel = k * s.eps_abs, k * s.eps_rel
        Einv, Dinv, cinv = 1.0 / self.E, 1.0 / self.D, 1.0 / self.c
        prim_ok = dual_ok = prim_inf = dual_inf = False
        if self.m == 0:
            prim_ok = True
        else:
            eps_p = eps_abs + eps_rel * max(_norm(Einv * self.z), _norm(Einv * info["Ax"]))
            prim_ok = info["prim_res"] < eps_p
            if not prim_ok:
                prim_inf = self._primal_infeasible(k * s.eps_prim_inf)
        eps_d = eps_abs + eps_rel * cinv * max(_norm(Dinv * self.q), _norm(Dinv * info["Aty"]),
                                                _norm(Dinv * info["Px"]))
        dual_ok = info["dual_res"] < eps_d
        if not dual_ok:
            dual_inf = self._dual_infeasible(k * s.eps_dual_inf)
        gap_ok = True
        if s.check_dualgap:
            eps_g = eps_abs + eps_rel * cinv * max(abs(info["xPx"]), abs(info["qx"]), abs(info["sup"]))
            gap_ok = abs(info["duality_gap"]) < eps_g
        if prim_ok and dual_ok and gap_ok:
            self.status = Status.SOLVED_INACCURATE if approximate else Status.SOLVED
        elif prim_inf:
            self.status = (Status.PRIMAL_INFEASIBLE_INACCURATE if approximate
                           else Status.PRIMAL_INFEASIBLE)
        elif dual_inf:
            self.status = (Status.DUAL_INFEASIBLE_INACCURATE if approximate
                           else Status.DUAL_INFEASIBLE)
        else:
            return False
        return True

    def _primal_infeasible(self, eps: float) -> bool:
        """||A' dy|| < eps ||dy|| and u'max(dy,0) + l'min(dy,0) < 0 (dy projected, unscaled)."""
        dy = _project_polar_reccone(self.delta_y, self.l, self.u)
        self.delta_y = dy          # OSQP projects delta_y in place (it becomes the certificate)
        norm_dy = _norm(self.E * dy)
        if norm_dy <= DIVISION_TOL:
            return False
        if self.u @ np.maximum(dy, 0) + self.l @ np.minimum(dy, 0) >= 0.0:
            return False
        return _norm((self.At @ dy) / self.D) < eps * norm_dy

    def _dual_infeasible(self, eps: float) -> bool:
        """q'dx < 0, ||P dx|| < c eps ||dx|| and A dx in the recession cone of [l, u]."""
        dx = self.delta_x
        norm_dx = _norm(self.D * dx)
        if norm_dx <= DIVISION_TOL or self.q @ dx >= 0.0:
            return False
        if _norm((self.P @ dx) / self.D) >= self.c * eps * norm_dx:
            return False
        Adx = (self.A @ dx) / self.E
        tol = eps * norm_dx
        bad = ((self.u < INF_BOUND) & (Adx > tol)) | ((self.l > -INF_BOUND) & (Adx < -tol))
        return not bad.any()

    def rho_estimate(self) -> float:
        """rho * sqrt((||Ax - z|| / max(||Ax||, ||z||)) / (||Px + q + A'y|| / max(||q||, ||A'y||, ||Px||)))
        in scaled space, clipped to [1e-6, 1e6] (``compute_rho_estimate``)."""
        info = self._info
        prim = info["scaled_prim_res"] / (max(_norm(self.z), _norm(info["Ax"])) + DIVISION_TOL)
        dual = info["scaled_dual_res"] / (max(_norm(self.q), _norm(info["Aty"]), _norm(info["Px"]))
                                          + DIVISION_TOL)
        est = self.rho * math.sqrt(prim / dual) if dual > 0 else RHO_MAX
        return min(max(est, RHO_MIN), RHO_MAX)

    # ------------------------------------------------------------------ loops
    def adapt(self, policy: str | RhoPolicy) -> None:
        """One adaptation point: OSQP's gated estimate (``"osqp"``) or a policy's output."""
        if policy == "osqp":
            new = self.rho_estimate()
            tol = self.settings.adaptive_rho_tolerance
            if new > self.rho * tol or new < self.rho / tol:
                self.set_rho(new)
                self.rho_updates += 1
            return
        out = policy(self)
        if np.ndim(out) == 0:
            self.set_rho(float(out))
        else:
            self.set_rho_vec(np.asarray(out, dtype=np.float64))
        self.rho_updates += 1

    def run(self, iterations: int, rho: str | RhoPolicy = "osqp") -> str:
        """Up to ``iterations`` more ADMM iterations with OSQP's schedule (checks every
        ``check_termination``, adaptation every ``adaptive_rho_interval`` unless ``rho="fixed"``).
        Returns the status (``unsolved`` if the budget ran out first)."""
        s = self.settings
        adapt = rho != "fixed" and s.adaptive_rho and s.adaptive_rho_interval > 0
        for _ in range(iterations):
            self.iterate()
            check = s.check_termination and self.iter % s.check_termination == 0
            can_adapt = adapt and self.iter % s.adaptive_rho_interval == 0
            if check or can_adapt or self.iter == 1:
                self.update_info()
            if check and self.check_termination():
                return self.status
            if can_adapt:
                try:
                    self.adapt(rho)
                except NonConvexError:  # the new rho exposed a non-PSD P (OSQP: "non convex")
                    self.status = Status.NON_CONVEX
                    return self.status
        return self.status

    def solve(self, rho: str | RhoPolicy = "osqp") -> Result:
        """Iterate to termination or ``max_iter`` (``osqp_solve``), then polish if enabled."""
        t0 = time.perf_counter()
        s = self.settings
        self.run(s.max_iter - self.iter, rho)
        if self.status == Status.UNSOLVED:
            if not (s.check_termination and self.iter % s.check_termination == 0):
                self.update_info()
                self.check_termination()
            if self.status == Status.UNSOLVED and not self.check_termination(approximate=True):
                self.status = Status.MAX_ITER_REACHED
        polished = s.polishing and self.status == Status.SOLVED and self._polish()
        return self._result(time.perf_counter() - t0, polished)

    # ------------------------------------------------------------------ polishing
    def _polish(self) -> bool:
        """Solve the equality QP on the guessed active set, refine, keep it if residuals drop."""
        s = self.settings
        lower = (self.z - self.l < -self.y) | (self.l == self.u)
        upper = ~lower & (self.u - self.z < self.y)
        active = lower | upper
        if not active.any():
            return False
        Ared = sp.csr_matrix(self.A)[active]
        rhs = np.concatenate([-self.q, np.where(lower, self.l, self.u)[active]])
        K = sp.bmat([[sp.csr_matrix(self.P), Ared.T], [Ared, None]], format="csc")
        reg = sp.diags(np.concatenate([np.full(self.n, s.delta), np.full(Ared.shape[0], -s.delta)]))
        lu = spla.splu((K + reg).tocsc())
        sol = lu.solve(rhs)
        for _ in range(s.polish_refine_iter):
            sol = sol + lu.solve(rhs - K @ sol)
        x = sol[: self.n]
        y = np.zeros(self.m)
        y[active] = sol[self.n:]
        z = self.A @ x
        y_plus_z = y + z
        z = np.clip(y_plus_z, self.l, self.u)
        y = y_plus_z - z
        before = (self._info["prim_res"], self._info["dual_res"])
        saved = (self.x, self.z, self.y, self._info)
        self.x, self.z, self.y = x, z, y
        after = self.update_info()
        ok = ((after["prim_res"] < before[0] and after["dual_res"] < before[1])
              or (after["prim_res"] < before[0] and before[1] < 1e-10)
              or (after["dual_res"] < before[1] and before[0] < 1e-10))
        if not ok:
            self.x, self.z, self.y, self._info = saved
        return ok

    # ------------------------------------------------------------------ results
    def solution(self) -> tuple[np.ndarray, np.ndarray]:
        """Unscaled (x, y): x = D x_s, y = E y_s / c."""
        return self.D * self.x, self.E * self.y / self.c

    def _result(self, solve_time: float, polished: bool) -> Result:
        x, y = self.solution()
        info = self._info or self.update_info()
        res = Result(x=x, y=y, status=self.status, iterations=self.iter,
                     refactorizations=self.refactorizations, solve_time=solve_time,
                     obj_val=info["obj_val"], prim_res=info["prim_res"], dual_res=info["dual_res"],
                     rho_updates=self.rho_updates, polished=polished,
                     info={"setup_time": self.setup_time, "duality_gap": info["duality_gap"]})
        if self.status in (Status.PRIMAL_INFEASIBLE, Status.PRIMAL_INFEASIBLE_INACCURATE):
            res.prim_inf_cert = self.E * self.delta_y
            res.obj_val = math.inf
        if self.status in (Status.DUAL_INFEASIBLE, Status.DUAL_INFEASIBLE_INACCURATE):
            res.dual_inf_cert = self.D * self.delta_x
            res.obj_val = -math.inf
        return res


def _norm(v: np.ndarray) -> float:
    return float(np.abs(v).max()) if v.size else 0.0


def _project_polar_reccone(y: np.ndarray, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """0 where both bounds are infinite, min(y, 0) where only u is, max(y, 0) where only l is."""
    y = y.copy()
    u_inf, l_inf = u > INF_BOUND, l < -INF_BOUND
    y[u_inf & l_inf] = 0.0
    y[u_inf & ~l_inf] = np.minimum(y[u_inf & ~l_inf], 0.0)
    y[~u_inf & l_inf] = np.maximum(y[~u_inf & l_inf], 0.0)
    return y


def solve(P: Any, q: Any, A: Any, l: Any, u: Any, rho: str | RhoPolicy = "osqp",
          eps_abs: float = 1e-3, eps_rel: float = 1e-3, max_iter: int = 4000,
          **settings: Any) -> Result:
    """Solve a QP with OSQP's ADMM.

    ``rho``: ``"osqp"`` (adaptive rho, OSQP 1.x default), ``"fixed"`` (no adaptation) or a
    :class:`RhoPolicy` called at every adaptation point (scalar or per-constraint output).
    Other keyword arguments are :class:`Settings` fields.
    """
    if isinstance(rho, str) and rho not in ("osqp", "fixed"):
        hint = " (rho='learned' is rlkit.algos.rlqp.solve)" if rho == "learned" else ""
        raise ValueError(f"rho={rho!r}: use 'osqp', 'fixed' or a RhoPolicy{hint}")
    s = Settings(eps_abs=eps_abs, eps_rel=eps_rel, max_iter=max_iter, **settings)
    return ADMM(P, q, A, l, u, s).solve(rho)

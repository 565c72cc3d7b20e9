"""Batched dense ADMM in torch: many small QPs solved at once, on CPU or GPU.

Same algorithm, scaling, termination, infeasibility tests and adaptive-rho rule as
:mod:`rlkit.envs.qp.admm` (OSQP 1.x), vectorised over a batch:

- problems are padded to common (n, m): padded variables have zero rows/columns in P and A (the
  sigma-regularised KKT keeps them at 0), padded constraints are loose rows (l = -1e30, u = 1e30,
  rho = 1e-6, zero in A), so neither changes any real iterate;
- the reduced KKT matrix ``P + sigma I + A' diag(rho) A`` is factorised by batched Cholesky and
  refactorised only for the problems whose rho changed;
- each problem has a done mask: once it terminates its iterates are frozen and its iteration
  count and status are final.
In float64 the iterates equal the sparse solver's (tested on mixed problem sizes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from rlkit.envs.qp.admm import (
    ADMM,
    DIVISION_TOL,
    INF_BOUND,
    MAX_SCALING,
    MIN_SCALING,
    OSQP_INFTY,
    RHO_EQ_OVER_RHO_INEQ,
    RHO_MAX,
    RHO_MIN,
    RHO_TOL,
    ZERO_DEADZONE,
    QPDataError,
    Settings,
    Status,
    check_matrices,
    check_psd,
    check_vectors,
)

_CODES = [Status.UNSOLVED, Status.SOLVED, Status.SOLVED_INACCURATE, Status.PRIMAL_INFEASIBLE,
          Status.PRIMAL_INFEASIBLE_INACCURATE, Status.DUAL_INFEASIBLE,
          Status.DUAL_INFEASIBLE_INACCURATE, Status.MAX_ITER_REACHED, Status.NON_CONVEX]


@dataclass
class BatchResult:
    x: list[np.ndarray]
    y: list[np.ndarray]
    status: list[str]
    iterations: np.ndarray
    refactorizations: np.ndarray
    solve_time: float


def _limit(v: torch.Tensor) -> torch.Tensor:
    v = torch.where(v < MIN_SCALING, torch.ones_like(v), v)
    return v.clamp(max=MAX_SCALING)


def _dense(p) -> tuple[np.ndarray, ...]:
    """Dense float64 arrays of one problem, validated like :func:`rlkit.envs.qp.admm.validate`."""
    P = p.P.toarray() if hasattr(p.P, "toarray") else np.asarray(p.P, dtype=np.float64)
    A = p.A.toarray() if hasattr(p.A, "toarray") else np.asarray(p.A, dtype=np.float64)
    P, A = np.asarray(P, dtype=np.float64), np.asarray(A, dtype=np.float64).reshape(-1, P.shape[-1])
    check_matrices(P.shape, A.shape)
    if not (np.isfinite(P).all() and np.isfinite(A).all()):
        raise QPDataError("P or A contains NaN or inf entries")
    q, l, u = check_vectors(P.shape[0], A.shape[0], p.q, p.l, p.u)
    return P, q, A, l, u


def _rowvec_times(v: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """v' M for a batch: [B, k] x [B, k, j] -> [B, j]. Written as a row vector times a matrix,
    batched matrix-vector products run several times faster than as M' v on CPU."""
    return torch.bmm(v[:, None, :], M).squeeze(1)


def _amax(v: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return v.abs().amax(dim=dim) if v.shape[dim] else v.new_zeros(v.shape[:dim] + v.shape[dim + 1:])


class BatchedADMM:
    """OSQP's ADMM on a batch of QPs ``(P, q, A, l, u)`` (scipy sparse or dense each)."""

    def __init__(self, problems: list, settings: Settings | None = None,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float64,
                 handoff: int = 4) -> None:
        t0 = time.perf_counter()
        self.settings = s = settings or Settings()
        self.device, self.dtype = torch.device(device), dtype
        self.problems, self.handoff = problems, handoff
        data = [_dense(p) for p in problems]
        self.B = B = len(data)
        self.ns = torch.tensor([d[0].shape[0] for d in data])
        self.ms = torch.tensor([d[2].shape[0] for d in data])
        n, m = int(self.ns.max()), int(self.ms.max())
        self.n, self.m = n, m
        kw = {"device": self.device, "dtype": dtype}
        P = torch.zeros(B, n, n, **kw)
        A = torch.zeros(B, m, n, **kw)
        q = torch.zeros(B, n, **kw)
        l = torch.full((B, m), -OSQP_INFTY, **kw)
        u = torch.full((B, m), OSQP_INFTY, **kw)
        for b, (Pb, qb, Ab, lb, ub) in enumerate(data):
            nb, mb = Pb.shape[0], Ab.shape[0]
            P[b, :nb, :nb] = torch.from_numpy(Pb)
            A[b, :mb, :nb] = torch.from_numpy(Ab)
            q[b, :nb] = torch.from_numpy(qb)
            l[b, :mb], u[b, :mb] = torch.from_numpy(lb), torch.from_numpy(ub)
        P = P.triu()                           # OSQP stores (and scales with) the upper triangle
        full = P + P.triu(1).transpose(1, 2)
        lam = torch.linalg.eigvalsh(full.double()).amin(1)
        for b in range(B):
            try:
                check_psd(float(lam[b]), float(full[b].abs().max()))
            except QPDataError as err:
                raise QPDataError(f"problem {b}: {err}") from None
        P_triu, self.q, self.A, self.D, self.E, self.c = self._scale(P, q, A, s.scaling)
        self.P = P_triu + P_triu.triu(1).transpose(1, 2)
        self.At = self.A.transpose(1, 2).contiguous()
        self.l, self.u = l * self.E, u * self.E
        self.loose = (self.l < -INF_BOUND) & (self.u > INF_BOUND)
        self.eq = ~self.loose & (self.u - self.l < RHO_TOL)
        self.x, self.delta_x = torch.zeros(B, n, **kw), torch.zeros(B, n, **kw)
        self.z, self.y, self.delta_y = (torch.zeros(B, m, **kw) for _ in range(3))
        self.rho = torch.full((B,), s.rho, **kw)
        self.rho_vec = self._rho_vec_for(self.rho)
        self.Minv = torch.zeros(B, n, n, **kw)   # (P + sigma I + A' diag(rho) A)^-1, per problem
        self.refactorizations = torch.zeros(B, dtype=torch.long)
        self._factorize(torch.ones(B, dtype=torch.bool, device=self.device))
        self.index = torch.arange(B)        # original problem id of each working row
        self._out: dict[int, tuple] = {}      # finished problems: id -> (x, y, code, iters, refactors)
        self.setup_time = time.perf_counter() - t0

    # ------------------------------------------------------------------ setup
    def _scale(self, P, q, A, passes):
        """Batched Ruiz + cost scaling, identical to :func:`rlkit.envs.qp.admm.ruiz_scale`."""
        B, n = q.shape
        D = torch.ones_like(q)
        E = torch.ones(B, A.shape[1], dtype=q.dtype, device=q.device)
        c = torch.ones(B, dtype=q.dtype, device=q.device)
        n_real = self.ns.to(q.device, q.dtype)
        for _ in range(passes):
            d = 1.0 / _limit(torch.maximum(_amax(P, 1), _amax(A, 1))).sqrt()
            e = 1.0 / _limit(_amax(A, 2)).sqrt()
            P = d[:, :, None] * P * d[:, None, :]
            A = e[:, :, None] * A * d[:, None, :]
            q, D, E = q * d, D * d, E * e
            c_mean = _amax(P, 1).sum(1) / n_real
            q_norm = _limit(_amax(q, 1))
            c_t = 1.0 / _limit(torch.maximum(c_mean, q_norm))
            P, q, c = P * c_t[:, None, None], q * c_t[:, None], c * c_t
        return P, q, A, D, E, c

    def _rho_vec_for(self, rho: torch.Tensor) -> torch.Tensor:
        rho = rho.clamp(RHO_MIN, RHO_MAX)[:, None].expand(-1, self.m)
        vec = torch.where(self.eq, RHO_EQ_OVER_RHO_INEQ * rho, rho)
        return torch.where(self.loose, torch.full_like(vec, RHO_MIN), vec)

    def _factorize(self, which: torch.Tensor) -> None:
        idx = which.nonzero().squeeze(1)
        if idx.numel() == 0:
            return
        A, r = self.A[idx], self.rho_vec[idx]
        M = self.P[idx] + self.settings.sigma * torch.eye(self.n, dtype=self.dtype, device=self.device) \
            + A.transpose(1, 2) @ (r[:, :, None] * A)
        self.Minv[idx] = torch.cholesky_inverse(torch.linalg.cholesky(M))
        self.refactorizations[idx.cpu()] += 1

    # ------------------------------------------------------------------ iteration
    def _iterate(self) -> None:
        """One ADMM iteration for the whole batch, with as few tensor passes as possible."""
        a = self.settings.alpha
        rhs = torch.add(_rowvec_times(self.rho_vec * self.z - self.y, self.A), self.x,
                        alpha=self.settings.sigma).sub_(self.q)
        x_t = torch.bmm(self.Minv, rhs[:, :, None]).squeeze(2)
        z_t = _rowvec_times(x_t, self.At)
        x = torch.lerp(self.x, x_t, a)                     # a x~ + (1 - a) x
        zr = torch.lerp(self.z, z_t, a)                    # relaxed z
        z = torch.clamp(torch.addcdiv(zr, self.y, self.rho_vec), self.l, self.u)
        self.delta_x, self.x = x - self.x, x
        self.delta_y = zr.sub_(z).mul_(self.rho_vec)
        self.z, self.y = z, self.y + self.delta_y

    def _info(self) -> dict[str, torch.Tensor]:
        Ax = _rowvec_times(self.x, self.At)
        Px = (self.P @ self.x[:, :, None]).squeeze(2)
        Aty = _rowvec_times(self.y, self.A)
        r_p, r_d = Ax - self.z, self.q + Px + Aty
        cinv = 1.0 / self.c
        y_pol = self._polar(self.y)
        y_pol = torch.where(y_pol.abs() < ZERO_DEADZONE, torch.zeros_like(y_pol), y_pol)
        sup = (self.u * y_pol.clamp(min=0)).sum(1) + (self.l * y_pol.clamp(max=0)).sum(1)
        xPx, qx = (Px * self.x).sum(1), (self.q * self.x).sum(1)
        return {"Ax": Ax, "Px": Px, "Aty": Aty, "scaled_prim": _amax(r_p), "scaled_dual": _amax(r_d),
                "prim_res": _amax(r_p / self.E), "dual_res": cinv * _amax(r_d / self.D),
                "gap": cinv * (xPx + qx + sup), "xPx": xPx, "qx": qx, "sup": sup}

    def _polar(self, y: torch.Tensor) -> torch.Tensor:
        u_inf, l_inf = self.u > INF_BOUND, self.l < -INF_BOUND
        y = torch.where(u_inf & l_inf, torch.zeros_like(y), y)
        y = torch.where(u_inf & ~l_inf, y.clamp(max=0), y)
        return torch.where(~u_inf & l_inf, y.clamp(min=0), y)

    def _check(self, info: dict[str, torch.Tensor], approximate: bool) -> torch.Tensor:
        """Status code per problem (0 = not terminated), as ``ADMM.check_termination``."""
        s = self.settings
        k = 10.0 if approximate else 1.0
        eps_abs, eps_rel = k * s.eps_abs, k * s.eps_rel
        cinv = 1.0 / self.c
        eps_p = eps_abs + eps_rel * torch.maximum(_amax(self.z / self.E), _amax(info["Ax"] / self.E))
        prim_ok = (info["prim_res"] < eps_p) | (self.ms.to(self.device) == 0)
        eps_d = eps_abs + eps_rel * cinv * torch.stack(
            [_amax(self.q / self.D), _amax(info["Aty"] / self.D), _amax(info["Px"] / self.D)]).amax(0)
        dual_ok = info["dual_res"] < eps_d
        gap_ok = torch.ones_like(dual_ok)
        if s.check_dualgap:
            eps_g = eps_abs + eps_rel * cinv * torch.stack(
                [info["xPx"].abs(), info["qx"].abs(), info["sup"].abs()]).amax(0)
            gap_ok = info["gap"].abs() < eps_g
        # primal infeasibility (evaluated where the primal test fails)
        dy = self._polar(self.delta_y)
        self.delta_y = torch.where(~prim_ok[:, None], dy, self.delta_y)
        norm_dy = _amax(self.E * dy)
        lhs = (self.u * dy.clamp(min=0)).sum(1) + (self.l * dy.clamp(max=0)).sum(1)
        atdy = _amax(_rowvec_times(dy, self.A) / self.D)
        prim_inf = ~prim_ok & (norm_dy > DIVISION_TOL) & (lhs < 0) & (atdy < k * s.eps_prim_inf * norm_dy)
        # dual infeasibility
        dx = self.delta_x
        norm_dx = _amax(self.D * dx)
        tol = k * s.eps_dual_inf * norm_dx
        pdx = _amax((self.P @ dx[:, :, None]).squeeze(2) / self.D)
        adx = _rowvec_times(dx, self.At) / self.E
        bad = ((self.u < INF_BOUND) & (adx > tol[:, None])) | ((self.l > -INF_BOUND) & (adx < -tol[:, None]))
        dual_inf = (~dual_ok & (norm_dx > DIVISION_TOL) & ((self.q * dx).sum(1) < 0)
                    & (pdx < self.c * k * s.eps_dual_inf * norm_dx) & ~bad.any(1))
        code = torch.zeros(len(self.x), dtype=torch.long, device=self.device)
        code = torch.where(dual_inf, torch.tensor(6 if approximate else 5, device=self.device), code)
        code = torch.where(prim_inf, torch.tensor(4 if approximate else 3, device=self.device), code)
        code = torch.where(prim_ok & dual_ok & gap_ok,
                           torch.tensor(2 if approximate else 1, device=self.device), code)
        diverged = (info["prim_res"] > OSQP_INFTY) | (info["dual_res"] > OSQP_INFTY)
        return torch.where(diverged, torch.tensor(8, device=self.device), code)

    def _adapt(self, info: dict[str, torch.Tensor]) -> None:
        prim = info["scaled_prim"] / (torch.maximum(_amax(self.z), _amax(info["Ax"])) + DIVISION_TOL)
        dual = info["scaled_dual"] / (torch.stack([_amax(self.q), _amax(info["Aty"]),
                                                   _amax(info["Px"])]).amax(0) + DIVISION_TOL)
        est = torch.where(dual > 0, self.rho * (prim / dual).sqrt(), torch.full_like(dual, RHO_MAX))
        est = est.clamp(RHO_MIN, RHO_MAX)
        tol = self.settings.adaptive_rho_tolerance
        change = (est > self.rho * tol) | (est < self.rho / tol)
        if change.any():
            self.rho = torch.where(change, est, self.rho)
            self.rho_vec = torch.where(change[:, None], self._rho_vec_for(self.rho), self.rho_vec)
            self._factorize(change)

    # ------------------------------------------------------------------ solve
    _PER_PROBLEM = ("P", "A", "At", "q", "l", "u", "loose", "eq", "D", "E", "c", "x", "z", "y", "delta_x",
                    "delta_y", "rho", "rho_vec", "Minv", "ns", "ms", "refactorizations", "index")

    def _retire(self, code: torch.Tensor, iters: int) -> None:
        """Record the problems with a nonzero status code and drop them from the working batch."""
        stop = code > 0
        if not bool(stop.any()):
            return
        x = (self.D * self.x)[stop].cpu().numpy()
        y = (self.E * self.y / self.c[:, None])[stop].cpu().numpy()
        stop_cpu = stop.cpu()
        for k, (pid, c, nb, mb, rf) in enumerate(zip(self.index[stop_cpu].tolist(), code[stop].tolist(),
                                                     self.ns[stop_cpu].tolist(), self.ms[stop_cpu].tolist(),
                                                     self.refactorizations[stop_cpu].tolist(), strict=True)):
            self._out[pid] = (x[k, :nb], y[k, :mb], _CODES[c], iters, rf)
        keep = ~stop
        for name in self._PER_PROBLEM:
            v = getattr(self, name)
            setattr(self, name, v[keep if v.device == keep.device else keep.cpu()])

    def solve(self, rho: str = "osqp") -> BatchResult:
        """Iterate until every problem terminates or reaches ``max_iter``.

        Finished problems leave the working batch at the termination check that stops them, so
        the cost per iteration follows the number of unsolved problems.
        """
        if rho not in ("osqp", "fixed"):
            raise ValueError(f"rho={rho!r}: the batched solver supports 'osqp' and 'fixed'")
        t0 = time.perf_counter()
        s = self.settings
        adapt = rho == "osqp" and s.adaptive_rho and s.adaptive_rho_interval > 0
        it = 0
        while it < s.max_iter and len(self.x):
            it += 1
            self._iterate()
            check = s.check_termination and it % s.check_termination == 0
            can_adapt = adapt and it % s.adaptive_rho_interval == 0
            if check or can_adapt:
                info = self._info()
                if check:
                    code = self._check(info, approximate=False)
                    if bool((code > 0).any()):
                        self._retire(code, it)
                        if can_adapt and len(self.x):
                            info = self._info()
                if can_adapt and len(self.x):
                    self._adapt(info)
                if 0 < len(self.x) <= self.handoff and self.device.type == "cpu":
                    self._finish_sparse(rho, it)
        if len(self.x):
            code = self._check(self._info(), approximate=True)
            self._retire(torch.where(code > 0, code, torch.full_like(code, 7)), it)
        return self._result(time.perf_counter() - t0)

    def _finish_sparse(self, rho: str, it: int) -> None:
        """Hand the last few problems to the sparse solver: a batch of one or two pays torch's
        per-op overhead on every iteration, the sparse solver does not. The state moves as is
        (same scaling), so the iterates continue unchanged up to round-off."""
        for k, pid in enumerate(self.index.tolist()):
            p = self.problems[pid]
            solver = ADMM(p.P, p.q, p.A, p.l, p.u, self.settings, psd_check=False)
            nb, mb = int(self.ns[k]), int(self.ms[k])
            solver.x = self.x[k, :nb].double().cpu().numpy().copy()
            solver.z = self.z[k, :mb].double().cpu().numpy().copy()
            solver.y = self.y[k, :mb].double().cpu().numpy().copy()
            solver.rho = float(self.rho[k])
            solver.set_rho_vec(self.rho_vec[k, :mb].double().cpu().numpy())
            solver.iter = it
            res = solver.solve(rho)
            self._out[pid] = (res.x, res.y, res.status, res.iterations,
                              int(self.refactorizations[k]) + res.refactorizations - 2)
        keep = torch.zeros(len(self.x), dtype=torch.bool)
        for name in self._PER_PROBLEM:
            v = getattr(self, name)
            setattr(self, name, v[keep.to(v.device)])

    def _result(self, solve_time: float) -> BatchResult:
        out = [self._out[b] for b in range(self.B)]
        return BatchResult(x=[o[0] for o in out], y=[o[1] for o in out], status=[o[2] for o in out],
                           iterations=np.array([o[3] for o in out]),
                           refactorizations=np.array([o[4] for o in out]), solve_time=solve_time)

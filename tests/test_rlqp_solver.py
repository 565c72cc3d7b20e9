"""The ADMM solver against the osqp package (1.1.x), the batched solver, and bad input."""

import numpy as np
import pytest
import scipy.sparse as sp

from rlkit.algos.rlqp import ADMM, BatchedADMM, QPDataError, Settings, Status, solve
from rlkit.envs.qp.admm import NonConvexError
from rlkit.envs.qp.problems import GENERATORS, generate, load_maros_meszaros

osqp = pytest.importorskip("osqp")
SIZES = {"random_qp": 12, "eq_qp": 16, "portfolio": 2, "lasso": 3, "huber": 2, "svm": 3, "control": 5}


def _osqp(qp, **kw):
    m = osqp.OSQP()
    m.setup(sp.triu(qp.P, format="csc"), qp.q, qp.A, qp.l, qp.u, verbose=False, polishing=False,
            adaptive_rho_interval=50, **kw)
    return m.solve(raise_error=False)


@pytest.mark.parametrize("eps", [1e-3, 1e-5])
@pytest.mark.parametrize("cls", sorted(GENERATORS))
def test_iterations_status_and_solution_equal_osqp(cls, eps):
    for seed in range(2):
        qp = generate(cls, SIZES[cls], seed)
        ref = _osqp(qp, eps_abs=eps, eps_rel=eps)
        ours = solve(qp.P, qp.q, qp.A, qp.l, qp.u, eps_abs=eps, eps_rel=eps)
        assert ours.status == Status.OSQP_NAMES[ref.info.status]
        assert ours.iterations == ref.info.iter
        assert ours.rho_updates == ref.info.rho_updates
        np.testing.assert_allclose(ours.x, ref.x, rtol=1e-8, atol=1e-8 * max(1, np.abs(ref.x).max()))
        np.testing.assert_allclose(ours.y, ref.y, rtol=1e-8, atol=1e-8 * max(1, np.abs(ref.y).max()))


def test_fixed_rho_matches_osqp_without_adaptation():
    qp = generate("random_qp", 10, 3)
    ref = _osqp(qp, adaptive_rho=0, max_iter=500)
    ours = solve(qp.P, qp.q, qp.A, qp.l, qp.u, rho="fixed", max_iter=500)
    assert (ours.iterations, ours.status) == (ref.info.iter, Status.OSQP_NAMES[ref.info.status])
    assert ours.refactorizations == 1


def test_max_iter_reports_max_iter_or_inaccurate_like_osqp():
    qp = generate("random_qp", 15, 1)
    ref = _osqp(qp, eps_abs=1e-8, eps_rel=1e-8, max_iter=60)
    ours = solve(qp.P, qp.q, qp.A, qp.l, qp.u, eps_abs=1e-8, eps_rel=1e-8, max_iter=60)
    assert ours.status == Status.OSQP_NAMES[ref.info.status] and ours.iterations == 60


def test_primal_infeasible_problem_gets_a_certificate():
    A = sp.csc_matrix(np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]]))
    res = solve(sp.eye(2), np.ones(2), A, np.array([3.0, -np.inf, -np.inf]), np.array([np.inf, 1.0, 1.0]))
    assert res.status == Status.PRIMAL_INFEASIBLE
    cert = res.prim_inf_cert
    assert np.abs(A.T @ cert).max() < 1e-3 * np.abs(cert).max()


def test_unbounded_problem_is_dual_infeasible():
    res = solve(sp.csc_matrix((2, 2)), np.array([-1.0, 0.0]), sp.csc_matrix(np.array([[1.0, 0.0]])),
                np.array([0.0]), np.array([np.inf]))
    assert res.status == Status.DUAL_INFEASIBLE and res.dual_inf_cert[0] > 0


def test_polishing_matches_osqp_polished_solution():
    qp = generate("random_qp", 10, 0)
    m = osqp.OSQP()
    m.setup(sp.triu(qp.P, format="csc"), qp.q, qp.A, qp.l, qp.u, verbose=False, polishing=True)
    ref = m.solve(raise_error=False)
    ours = solve(qp.P, qp.q, qp.A, qp.l, qp.u, polishing=True)
    assert ours.polished and ref.info.status_polish == 1
    np.testing.assert_allclose(ours.x, ref.x, atol=1e-6)


@pytest.mark.parametrize(("args", "message"), [
    ((np.ones((2, 3)), np.ones(2), np.eye(2), np.zeros(2), np.ones(2)), "P must be square"),
    ((np.diag([1.0, -1.0]), np.ones(2), np.eye(2), np.zeros(2), np.ones(2)), "not positive semidefinite"),
    ((np.eye(2), np.ones(3), np.eye(2), np.zeros(2), np.ones(2)), "q has 3 entries"),
    ((np.eye(2), np.ones(2), np.eye(3), np.zeros(3), np.ones(3)), "A has 3 columns"),
    ((np.eye(2), np.ones(2), np.eye(2), np.zeros(3), np.ones(2)), "l and u need 2 entries"),
    ((np.eye(2), np.ones(2), np.eye(2), np.array([2.0, 0.0]), np.ones(2)), "l > u in row 0"),
    ((np.eye(2), np.array([1.0, np.nan]), np.eye(2), np.zeros(2), np.ones(2)), "q contains NaN"),
    ((np.eye(2), np.ones(2), np.array([[1.0, np.inf], [0, 1]]), np.zeros(2), np.ones(2)), "A contains NaN"),
])
def test_bad_input_raises_a_clear_error(args, message):
    with pytest.raises(QPDataError, match=message):
        solve(*args)


def test_batched_solver_equals_the_sparse_solver_on_mixed_sizes():
    probs = [generate("random_qp", 6 + i, i) for i in range(5)] + [generate("control", 3, 0),
                                                                 generate("eq_qp", 8, 1)]
    s = Settings(eps_abs=1e-5, eps_rel=1e-5)
    batch = BatchedADMM(probs, s, handoff=0).solve()
    for i, qp in enumerate(probs):
        ref = ADMM(qp.P, qp.q, qp.A, qp.l, qp.u, s).solve()
        assert batch.status[i] == ref.status and batch.iterations[i] == ref.iterations
        assert batch.refactorizations[i] == ref.refactorizations
        np.testing.assert_allclose(batch.x[i], ref.x, atol=1e-9 * max(1, np.abs(ref.x).max()))


def test_batched_hand_off_keeps_the_results():
    probs = [generate("random_qp", 8, i) for i in range(6)]
    a = BatchedADMM(probs, handoff=0).solve()
    b = BatchedADMM(probs, handoff=3).solve()
    assert a.status == b.status and (a.iterations == b.iterations).all()


def test_batched_solver_reports_bad_problems_by_index():
    good = generate("random_qp", 5, 0)
    bad = generate("random_qp", 5, 1)
    bad.P = -bad.P
    with pytest.raises(QPDataError, match="problem 1: P is not positive semidefinite"):
        BatchedADMM([good, bad])


def test_maros_meszaros_loader_maps_1e20_to_infinity(root):
    path = root.parent / "shared" / "data" / "maros_meszaros" / "HS21.mat"
    if not path.exists():
        pytest.skip("shared Maros-Meszaros data not present")
    qp = load_maros_meszaros(str(path))
    assert (qp.n, qp.m) == (2, 3) and np.isinf(qp.u[0]) and qp.l[0] == 10
    res = solve(qp.P, qp.q, qp.A, qp.l, qp.u, eps_abs=1e-6, eps_rel=1e-6)
    assert res.status == Status.SOLVED
    assert res.obj_val - 100 == pytest.approx(-99.96, abs=1e-4)   # HS21 optimum, with r = -100


def test_policy_exposing_a_non_psd_p_ends_with_non_convex_status():
    # P = -0.01 I is not PSD; OSQP's default rho keeps P + sigma I + A' rho A positive definite,
    # a policy that drops rho to 1e-6 does not: the solve must stop with "non_convex", not crash.
    n = 3
    P, A = -0.01 * np.eye(n), np.eye(n)
    solver = ADMM(P, np.ones(n), A, -np.ones(n), np.ones(n),
                  Settings(adaptive_rho_interval=25, max_iter=200), psd_check=False)
    res = solver.solve(lambda s: np.full(n, 1e-6))
    assert res.status == Status.NON_CONVEX and res.iterations == 25
    with pytest.raises(NonConvexError, match="not PSD"):
        ADMM(P, np.ones(n), A, -np.ones(n), np.ones(n), Settings(rho=1e-6), psd_check=False)

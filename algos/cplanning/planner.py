"""C-Planning's E-step: graph search over replay-buffer states (C-Planning paper Sec. 4, with SoRB's graph
machinery), and its fallback.

Nodes are N states from the replay buffer plus the episode's start and goal. The edge cost from
node i to node j is -log min(C1, C2)(s_i, pi(s_i, s_j), s_j), i.e. -log of the classifier's
probability that s_j is reached from s_i; edges are kept when that cost is at most
``max_cost`` (= -log c_min) and, with ``top_k``, only each node's k cheapest. Dijkstra's shortest
path from start to goal gives the waypoints. Without a path, one waypoint is drawn by importance
resampling with weights w(s0 -> s_w) w(s_w -> g), w = C / (1 - C).

Two backends behind :func:`shortest_path`: networkx (default) and scipy.sparse.csgraph.
"""

from __future__ import annotations

import numpy as np


def sparsify(cost: np.ndarray, max_cost: float, top_k: int | None = None) -> np.ndarray:
    """Edge costs [n, n] with inf for dropped edges: cost > max_cost, self loops, beyond top_k."""
    out = np.where(cost <= max_cost, cost, np.inf)
    np.fill_diagonal(out, np.inf)
    if top_k is not None and top_k < out.shape[1] - 1:
        keep = np.argsort(out, axis=1)[:, :top_k]
        mask = np.zeros_like(out, dtype=bool)
        np.put_along_axis(mask, keep, True, axis=1)
        out = np.where(mask, out, np.inf)
    return out


def shortest_path(cost: np.ndarray, start: int, goal: int, backend: str = "networkx") -> list[int] | None:
    """Node indices of the cheapest start -> goal path over finite edges, or None."""
    if backend == "networkx":
        import networkx as nx

        src, dst = np.nonzero(np.isfinite(cost))
        graph = nx.DiGraph()
        graph.add_nodes_from(range(len(cost)))
        graph.add_weighted_edges_from(zip(src.tolist(), dst.tolist(), cost[src, dst].tolist(), strict=True))
        try:
            return nx.dijkstra_path(graph, start, goal)
        except nx.NetworkXNoPath:
            return None
    if backend == "scipy":
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import dijkstra

        finite = np.isfinite(cost)
        weights = np.where(finite, np.maximum(cost, 1e-12), 0.0)      # csgraph drops explicit zeros
        dist, pred = dijkstra(csr_matrix(weights), directed=True, indices=start, return_predecessors=True)
        if not np.isfinite(dist[goal]):
            return None
        path = [goal]
        while path[-1] != start:
            path.append(int(pred[path[-1]]))
        return path[::-1]
    raise ValueError(f"backend={backend!r} must be networkx or scipy")


def pick_waypoints(path: list[int], k: int) -> list[int]:
    """Up to ``k`` nodes of a path, evenly spaced, without the start, ending at the goal."""
    inner = path[1:]
    if len(inner) <= k:
        return inner
    idx = np.round(np.linspace(0, len(inner) - 1, k)).astype(int)
    return [inner[i] for i in idx]


def resample_waypoint(w_from_start: np.ndarray, w_to_goal: np.ndarray, rng: np.random.Generator) -> int:
    """Importance resampling of one node with weight w(s0 -> s_w) w(s_w -> g)."""
    weight = np.clip(w_from_start, 0, None) * np.clip(w_to_goal, 0, None)
    total = weight.sum()
    if not np.isfinite(total) or total <= 0:
        return int(rng.integers(len(weight)))
    return int(rng.choice(len(weight), p=weight / total))

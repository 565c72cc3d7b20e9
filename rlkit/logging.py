"""Logger facade: CSV (always), wandb (offline by default) and TensorBoard (optional).

``metrics.csv`` has one row per log step. Columns are the union of all metric names seen so far,
sorted with ``step`` first, so a metric that appears later (e.g. ``eval/return`` at the first
evaluation) rewrites the header once and leaves earlier cells empty. On resume the rows after the
checkpoint's step are dropped, so the finished file equals that of an uninterrupted run.
"""

from __future__ import annotations

import csv
import math
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tqdm import tqdm


class Logger:
    """Writes metric rows to ``<run_dir>/metrics.csv`` and to the enabled backends."""

    def __init__(self, run_dir: str | Path, wandb_cfg: dict[str, Any] | None = None,
                 tensorboard: bool = False, config: dict[str, Any] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.run_dir / "metrics.csv"
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = ["step"]
        self._wandb = self._init_wandb(wandb_cfg or {}, config)
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tb"))

    def _init_wandb(self, cfg: dict[str, Any], config: dict[str, Any] | None) -> Any:
        mode = cfg.get("mode", "disabled")
        if mode == "disabled":
            return None
        import wandb

        # one wandb run per run directory: a killed and resumed run continues the same wandb run
        id_file = self.run_dir / "wandb_run_id"
        saved = id_file.read_text().strip() if id_file.exists() else None
        run_id = cfg.get("id") or saved or uuid.uuid4().hex[:8]
        id_file.write_text(run_id)
        return wandb.init(project=cfg.get("project", "rlkit"), group=cfg.get("group"),
                          name=cfg.get("name"), mode=mode, dir=str(self.run_dir), config=config,
                          resume="allow", id=run_id)

    def resume(self, step: int) -> None:
        """Reload ``metrics.csv`` and drop rows logged after ``step`` (they will be recomputed)."""
        if not self.csv_path.exists():
            return
        with self.csv_path.open(newline="") as f:
            reader = csv.DictReader(f)
            self.columns = list(reader.fieldnames or ["step"])
            self.rows = [r for r in reader if int(float(r["step"])) <= step]
        self._rewrite()

    def log(self, step: int, metrics: dict[str, float]) -> None:
        row = {"step": step, **{k: float(v) for k, v in metrics.items()}}
        new = [k for k in row if k not in self.columns]
        self.rows.append(row)
        if new:
            self.columns = ["step"] + sorted(set(self.columns[1:]) | set(new))
            self._rewrite()
        else:
            with self.csv_path.open("a", newline="") as f:
                csv.DictWriter(f, self.columns).writerow(row)
        if self._wandb is not None:
            self._wandb.log(metrics, step=step)
        if self._tb is not None:
            for k, v in metrics.items():
                self._tb.add_scalar(k, v, step)

    def _rewrite(self) -> None:
        tmp = self.csv_path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, self.columns)
            w.writeheader()
            w.writerows(self.rows)
        tmp.replace(self.csv_path)

    def close(self) -> None:
        if self._wandb is not None:
            self._wandb.finish()
        if self._tb is not None:
            self._tb.close()


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """Progress of a loop of ``total`` units: a tqdm bar on a terminal; without one (nohup, Slurm,
    CI logs) plain lines with the unit, the rate and the ETA, at every ``update`` that carries
    metrics (the runner's log steps) and otherwise at most every ``every_s`` seconds (long stages)."""

    def __init__(self, total: int, initial: int = 0, desc: str = "train", unit: str = "train_step",
                 every_s: float = 10.0) -> None:
        self.tty = sys.stderr.isatty()
        self.total, self.step, self.desc, self.unit, self.every_s = total, initial, desc, unit, every_s
        self._bar = (tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True)
                     if self.tty else None)
        self._t0, self._s0 = time.perf_counter(), initial
        self._printed = self._t0

    def line(self, step: int) -> str:
        """``[desc] 50/100 train_step (12.3 train_step/s, ETA 0:00:04)``."""
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        rate = (step - self._s0) / elapsed
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        shown_eta = _clock(eta) if math.isfinite(eta) else "?"
        return f"[{self.desc}] {step}/{self.total} {self.unit} ({rate:.3g} {self.unit}/s, ETA {shown_eta})"

    def update(self, step: int, metrics: dict[str, float] | None = None) -> None:
        if self._bar is not None:
            self._bar.update(step - self.step)
            if metrics:
                self._bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in metrics.items()
                                       if k.startswith("eval/") and math.isfinite(v)}, refresh=False)
        else:
            now = time.perf_counter()
            if metrics is not None or now - self._printed >= self.every_s or step == self.total:
                shown = " ".join(f"{k}={v:.4g}" for k, v in sorted((metrics or {}).items())
                                 if k.startswith(("eval/", "loss/", "train/env_steps")))
                print(f"{self.line(step)} {shown}".rstrip(), flush=True)
                self._printed = now
        self.step = step

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class Tee:
    """Copies everything written to a stream into a file as well (the run directory's ``run.log``)."""

    def __init__(self, stream: Any, path: Path) -> None:
        self.stream, self.file = stream, path.open("a", buffering=1)

    def write(self, text: str) -> int:
        self.file.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.file.flush()
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def close(self) -> None:
        self.file.close()

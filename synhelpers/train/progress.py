"""Training progress: one line per epoch in a terminal, a progress bar in Jupyter, or nothing.

Each line says the epoch, the training loss of the fused heads (and, for a fused model, the
auxiliary per-view loss apart), the validation loss and macro-F1, the best so far and the
epoch's wall time.
"""

from __future__ import annotations

import sys
import time

import lightning as L

__all__ = ["EpochProgress", "in_jupyter"]


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (where a widget progress bar works)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython

        return get_ipython() is not None and "IPKernelApp" in get_ipython().config
    except Exception:  # noqa: BLE001 - no IPython: not Jupyter
        return False


class EpochProgress(L.Callback):
    """Report each epoch. ``mode``: ``lines``, ``bar``, ``auto`` (bar in Jupyter) or ``none``."""

    def __init__(self, mode: str = "auto", label: str = "", max_epochs: int | None = None):
        self.mode = ("bar" if in_jupyter() else "lines") if mode == "auto" else mode
        self.label = label
        self.max_epochs = max_epochs
        self.best = (float("-inf"), -1)
        self._bar = None
        self._t0 = 0.0

    def on_train_epoch_start(self, trainer, pl_module):
        self._t0 = time.perf_counter()
        if self.mode == "bar" and self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.max_epochs or trainer.max_epochs, desc=self.label,
                             unit="epoch", leave=False)

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking or self.mode == "none":
            return
        m = {k: float(v) for k, v in trainer.callback_metrics.items()}
        epoch, f1 = trainer.current_epoch, m.get("val_macro_f1", float("nan"))
        if f1 > self.best[0]:
            self.best = (f1, epoch)
        aux = f" (+aux {m['train_aux_loss']:.3f})" if "train_aux_loss" in m else ""
        text = (f"loss {m.get('train_loss', float('nan')):.3f}{aux}  "
                f"val loss {m.get('val_loss', float('nan')):.3f}  val macro-F1 {f1:.3f} "
                f"(best {self.best[0]:.3f} @ {self.best[1]})  {time.perf_counter() - self._t0:.2f} s")
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(1)
        else:
            total = self.max_epochs or trainer.max_epochs
            print(f"{self.label} epoch {epoch:>3}/{total}  {text}".strip(), flush=True)

    def on_fit_end(self, trainer, pl_module):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

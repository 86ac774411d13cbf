"""Execute the numbered notebooks for committing, and clean their outputs.

``python -m synhelpers.testing.notebooks notebooks/00_quickstart.ipynb ...`` runs each notebook
in place with papermill (the default profile, from the repository root) and cleans it:

- widget outputs (progress bars) are dropped: saved, they show a frozen bar that no longer
  updates, and the widget state is removed from the notebook's metadata;
- absolute paths of this machine (the repository root, the home folder, the temp folder) are
  replaced by relative or neutral ones, so a committed notebook shows nothing of the machine
  it ran on.

``tests/test_notebooks_clean.py`` checks the committed notebooks for both.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path

__all__ = ["clean_notebook", "execute_notebook", "ABSOLUTE_PATH", "WIDGET_MIME"]

#: An absolute path of a typical machine (POSIX home/temp/work folders or a Windows drive).
ABSOLUTE_PATH = re.compile(r"(?<![\w.])(/work/|/home/|/root/|/tmp/|/Users/|/private/var/|[A-Z]:\\\\)")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _scrub(text: str, root: Path) -> str:
    text = text.replace(str(root) + os.sep, "").replace(str(root), ".")
    text = text.replace(str(Path.home()), "~")
    return text.replace(tempfile.gettempdir(), "$TMPDIR")


def _clean_output(out: dict, root: Path) -> dict | None:
    data = out.get("data", {})
    if WIDGET_MIME in data:
        return None
    if "text" in out:
        out["text"] = _scrub("".join(out["text"]) if isinstance(out["text"], list) else out["text"], root)
    for mime, value in list(data.items()):
        if mime.startswith("text/") or mime == "application/json":
            value = "".join(value) if isinstance(value, list) else value
            data[mime] = _scrub(value, root) if isinstance(value, str) else value
    return out


def clean_notebook(path: str | Path, root: str | Path | None = None) -> None:
    """Drop widget outputs and widget state, and scrub machine paths, in place."""
    import nbformat

    root = Path(root or Path(__file__).resolve().parents[2])
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in (_clean_output(o, root) for o in cell.outputs) if o is not None]
    nbformat.write(nb, path)


def execute_notebook(path: str | Path, parameters: dict | None = None) -> None:
    """Run ``path`` in place with papermill (cwd: the repository root), then clean it."""
    import papermill

    root = Path(__file__).resolve().parents[2]
    papermill.execute_notebook(str(path), str(path), parameters=parameters or {}, cwd=str(root),
                               progress_bar=False)
    clean_notebook(path, root)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Execute notebooks in place and clean their outputs.")
    p.add_argument("notebooks", nargs="+", type=Path)
    p.add_argument("--clean-only", action="store_true", help="only clean, do not execute")
    args = p.parse_args(argv)
    for nb in args.notebooks:
        (clean_notebook if args.clean_only else execute_notebook)(nb)
        print(f"{'cleaned' if args.clean_only else 'executed and cleaned'} {nb}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

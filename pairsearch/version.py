"""Which code runs: the package version and, in a git checkout, its commit (read without a subprocess)."""

from __future__ import annotations

from pathlib import Path

from pairsearch import __version__


def version_text() -> str:
    """``pairsearch 0.1.0`` and, in a git checkout, the commit it runs (``(commit a69019a)``)."""
    commit = git_commit(Path(__file__).resolve().parent.parent)
    return f"pairsearch {__version__}" + (f" (commit {commit})" if commit else "")


def git_commit(root: Path) -> str | None:
    """The commit checked out at ``root``, read from ``.git`` (no subprocess); None outside a checkout."""
    git = root / ".git"
    if git.is_file():  # a worktree: "gitdir: PATH"
        git = Path(git.read_text(encoding="utf-8").removeprefix("gitdir:").strip())
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head[:7]
        ref = head.removeprefix("ref: ")
        common = Path((git / "commondir").read_text(encoding="utf-8").strip()) if (git / "commondir").exists() else None
        for folder in filter(None, (git, common and (git / common))):
            if (folder / ref).is_file():
                return (folder / ref).read_text(encoding="utf-8").strip()[:7]
            packed = folder / "packed-refs"
            if packed.is_file():
                for line in packed.read_text(encoding="utf-8").splitlines():
                    if line.endswith(f" {ref}"):
                        return line[:7]
    except OSError:
        return None
    return None

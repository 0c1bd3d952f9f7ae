"""Download, verify and unpack dataset archives into the cache, atomically.

An archive is downloaded to a temporary file (streamed, with a progress bar on a terminal),
checked against its published digests (MD5 and/or SHA-256), unpacked into a temporary folder beside the
final one, and each file the loader reads is checked against its SHA-256 before the folder is
renamed into place: a partial download or extraction never looks complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from mfbench.errors import DataError, MfbenchError

__all__ = ["cache_dir", "sha256_of", "verify_files", "fetch_zip"]


def cache_dir() -> Path:
    """``MFBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/mfbench``, else ``~/.cache/mfbench``."""
    if os.environ.get("MFBENCH_CACHE_DIR"):
        return Path(os.environ["MFBENCH_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mfbench"


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_of(path: Path) -> str:
    return _digest(path, "sha256")


def verify_files(folder: Path, sha256: dict[str, str]) -> None:
    """Check each named file of ``folder`` against its SHA-256; a clear error on the first mismatch."""
    for name, expected in sha256.items():
        path = folder / name
        if not path.exists():
            raise DataError(f"{path}: missing (expected in a copy of this dataset)")
        got = sha256_of(path)
        if got != expected:
            raise DataError(f"{path}: SHA-256 {got} does not match the published data ({expected}); "
                            "the copy is damaged or a different release: replace it or delete it to download again")


def _download(url: str, dest: Path) -> None:
    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 (fixed https URLs)
        total = int(resp.headers.get("Content-Length") or 0) or None
        with open(dest, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1],
                                           disable=not sys.stderr.isatty()) as bar:
            for block in iter(lambda: resp.read(1 << 16), b""):
                out.write(block)
                bar.update(len(block))


def fetch_zip(url: str, digests: dict[str, str | None], member_dir: str, target: Path, sha256: dict[str, str]) -> Path:
    """Download ``url``, check it against ``digests`` (``{"md5": ..., "sha256": ...}``, each
    given one must match), and unpack its folder ``member_dir`` to ``target``, verifying the files
    named in ``sha256``; atomically: ``target`` appears only complete."""
    digests = {alg: value for alg, value in digests.items() if value}
    if not digests:
        raise DataError(f"{url}: no checksum to verify it against")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        archive = Path(tmp) / url.rsplit("/", 1)[-1]
        try:
            _download(url, archive)
        except OSError as exc:
            raise MfbenchError(f"cannot download {url} ({exc}); download it by hand, unzip it and point "
                               "--data-dir (or MFBENCH_DATA_DIR) at the folder that holds its folder") from None
        for alg, expected in digests.items():
            got = _digest(archive, alg)
            if got != expected:
                archive.unlink()
                raise DataError(f"{url}: {alg.upper()} {got} does not match the published {expected}; "
                                "the download was deleted, try again")
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
        except zipfile.BadZipFile as exc:
            raise DataError(f"{url}: not a readable zip archive ({exc})") from None
        archive.unlink()
        unpacked = Path(tmp) / member_dir
        if not unpacked.is_dir():
            raise DataError(f"{url}: the archive has no folder {member_dir}/")
        verify_files(unpacked, sha256)
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked, target)
    return target

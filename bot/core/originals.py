"""The exact files documents were read from, kept by their SHA-256 so anyone can check them.

A resident told "page 4 of the policy says so" should be able to see page 4 of the file staff
gave, not only the text extracted from it; staff should be able to download that very file and
compare its SHA-256 with the one recorded. Files live at `<root>/<sha[:2]>/<sha><ext>`, so the same
bytes are kept once however many times they are ingested, and a name can never point outside the
root: it is made from hex digits and an extension of letters and digits only.

`ingest.pipeline` writes a file before the registry vouches for its document, and removes it
when no registered document names its hash any more.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

SHA256 = re.compile(r"^[0-9a-f]{64}$")
EXTENSION = re.compile(r"^\.[a-z0-9]{1,8}$")
COPY_BLOCK = 1 << 20


class Originals:
    """A folder of files named by the SHA-256 of their bytes."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path | None:
        """The stored file with this hash, or None (unknown, or not a hash at all)."""
        if not SHA256.match(sha256):
            return None
        folder = self.root / sha256[:2]
        try:
            return next((p for p in folder.iterdir() if p.name.split(".", 1)[0] == sha256), None)
        except OSError:
            return None

    def put(self, sha256: str, name: str, source: bytes | Path) -> Path:
        """Keep `source` (bytes, or a file still on disk) under its hash, `name` giving the
        extension. Written to a temporary name and renamed, so a reader never sees half a file;
        ValueError when the bytes do not have that hash (a file changed since it was read)."""
        if existing := self.path(sha256):
            os.utime(existing)  # just written, as far as `sweep` is concerned
            return existing
        if not SHA256.match(sha256):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        suffix = Path(name).suffix.lower()
        target = self.root / sha256[:2] / (sha256 + (suffix if EXTENSION.match(suffix) else ""))
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        digest = hashlib.sha256()
        try:
            with temporary.open("wb") as out:
                for block in _blocks(source):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != sha256:
                raise ValueError(f"{name} changed while it was ingested: its bytes no longer match")
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return target

    def remove(self, sha256: str) -> None:
        if path := self.path(sha256):
            path.unlink(missing_ok=True)

    def sweep(self, keep: set[str], older_than: float) -> int:
        """Remove the files (and temporaries a killed writer left) last written more than
        `older_than` seconds ago whose hash is not in `keep`; how many were removed."""
        cutoff, removed = time.time() - older_than, 0
        for path in self.root.glob("??/*"):
            try:
                if path.name.split(".", 1)[0] in keep or path.stat().st_mtime > cutoff:
                    continue
                path.unlink()
            except OSError:
                continue
            removed += 1
        return removed


def _blocks(source: bytes | Path) -> Iterator[bytes]:
    if isinstance(source, bytes):
        yield source
        return
    with source.open("rb") as stream:
        while block := stream.read(COPY_BLOCK):
            yield block

"""A throwaway PostgreSQL server for the store tests: Debian's `postgresql` binaries, a cluster in a
temp dir, a Unix socket and a free port, started once per test session (as the `postgres` user when
the tests run as root, since PostgreSQL refuses to run as root). Each test gets its own database.

Skipped when no PostgreSQL is installed, except in CI (`CI=true`), where `.ci/run` installs it and a
missing server fails the tests.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class Server:
    def __init__(self) -> None:
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        self.dir = Path(tempfile.mkdtemp(prefix="loopdesk-pg-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        as_root = os.geteuid() == 0
        if as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        run = (lambda *a: ["runuser", "-u", "postgres", "--", *a]) if as_root else (lambda *a: list(a))
        data = self.dir / "data"
        subprocess.run(run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync",
                           "-E", "UTF8"), check=True, capture_output=True)
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._start = run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(self.dir / "log"), "-w",
                          "start")
        subprocess.run(self._start, check=True, capture_output=True)
        self._stop = run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        self.admin = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        import sqlalchemy as sa

        name = "t_" + uuid.uuid4().hex[:12]
        engine = sa.create_engine(self.admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def halt(self) -> None:
        """The database goes down (as a crash would), its files kept for `resume()`."""
        subprocess.run(self._stop, capture_output=True, check=True)

    def resume(self) -> None:
        subprocess.run(self._start, capture_output=True, check=True)

    def stop(self) -> None:
        subprocess.run(self._stop, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

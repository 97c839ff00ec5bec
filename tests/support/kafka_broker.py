"""A real single-node Apache Kafka broker (KRaft, combined broker + controller) for tests.

The broker runs on the machine's Java 17+ from the Maven Central jars that
``compose/kafka/pom.xml`` lists (fetched into ``compose/kafka/lib`` with ``mvn`` on first use,
then cached in ``~/.m2``). No docker, no Kafka tarball.

Usage::

    broker = KafkaBroker()
    broker.start()            # free ports, temporary data dir, waits until a topic can be created
    ... broker.bootstrap_servers ...
    broker.restart()          # same ports, same data dir: topics, messages, offsets survive
    broker.kill()             # SIGKILL (crash); start() again recovers from the same data dir
    broker.close()            # stop and remove the temporary data dir

or ``with KafkaBroker() as broker: ...``.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import hashlib
import importlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "KAFKA_DIR",
    "KafkaBroker",
    "KafkaBrokerError",
    "ensure_jars",
    "find_free_port",
]

KAFKA_DIR = Path(__file__).resolve().parents[2] / "compose" / "kafka"
"""``compose/kafka``: pom.xml, broker.sh and (after the first fetch) lib/."""

STARTED_MARKER = "Kafka Server started"
_BIND_ERROR_MARKERS = ("Address already in use", "BindException")
_POM_STAMP = ".pom-sha256"
_CDS_ARCHIVE = "kafka.jsa"

_LOG4J2_BROKER = """\
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
"""

_LOG4J2_TOOLS = """\
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
"""

# JVM flags chosen for start-up speed and a small footprint on a 2-core machine: C1 only (the
# C2 compiler's warm-up costs more CPU than a test broker ever earns back), serial GC (fewer
# threads), no perf-data file. Start-up is further halved by a class-data-sharing archive
# (lib/kafka.jsa) that the first cleanly stopped broker writes.
DEFAULT_JVM_OPTIONS: tuple[str, ...] = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Xlog:cds*=error",
    "-Djava.awt.headless=true",
)

# Broker settings for tests (one node, fast group joins, the app creates its own topics).
DEFAULT_BROKER_CONFIG: Mapping[str, str] = {
    "num.partitions": "3",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "auto.create.topics.enable": "false",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "share.coordinator.state.topic.num.partitions": "1",
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
    # after a SIGKILL the restarted broker can register only once its old session expired
    # (default 9 s); heartbeats stay frequent enough for a busy machine
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    "num.network.threads": "2",
    "num.io.threads": "4",
    "background.threads": "4",
    "log.cleaner.dedupe.buffer.size": "8388608",
}


class KafkaBrokerError(RuntimeError):
    """The broker could not be fetched, formatted, started or reached."""


def find_free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # flock(2), the same lock that broker.sh takes with flock(1)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def ensure_jars(kafka_dir: Path = KAFKA_DIR, mvn: str | None = None) -> Path:
    """Make sure ``kafka_dir/lib`` holds the broker classpath for the current pom.xml.

    Fetches with ``mvn dependency:copy-dependencies`` when lib/ is missing or was fetched for a
    different pom.xml; safe to call from several processes at once. Returns the lib directory.
    """
    pom = kafka_dir / "pom.xml"
    lib = kafka_dir / "lib"
    want = _pom_digest(pom)

    def current() -> bool:
        stamp = lib / _POM_STAMP
        return stamp.is_file() and stamp.read_text().strip() == want

    if current():
        return lib
    with _file_lock(kafka_dir / ".lib.lock"):
        if current():
            return lib
        mvn_bin = mvn or os.environ.get("MVN") or shutil.which("mvn")
        if not mvn_bin:
            raise KafkaBrokerError("Maven ('mvn') is needed to fetch the Kafka jars: not on PATH")
        tmp = Path(tempfile.mkdtemp(prefix=".lib-tmp.", dir=kafka_dir))
        try:
            result = subprocess.run(
                [
                    mvn_bin,
                    "-B",
                    "-q",
                    "-f",
                    str(pom),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={tmp}",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            if result.returncode != 0:
                output = result.stdout.decode(errors="replace")
                raise KafkaBrokerError(f"mvn failed to fetch the Kafka jars:\n{output}")
            (tmp / _POM_STAMP).write_text(want + "\n")
            tmp.chmod(0o755)
            if lib.exists():
                shutil.rmtree(lib)
            tmp.rename(lib)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return lib


def _random_cluster_id() -> str:
    # org.apache.kafka.common.Uuid.randomUuid(): 16 random bytes, URL-safe base64 without
    # padding, never starting with '-'
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise KafkaBrokerError("Java 17+ ('java') is needed to run the Kafka broker; not found")
    return java


# broker processes still running; killed when the interpreter exits, so that a test run that
# forgot to stop a broker does not leave a JVM behind
_live_processes: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftover_brokers() -> None:
    for process in list(_live_processes):
        with contextlib.suppress(Exception):
            process.kill()
            process.wait(10)


class KafkaBroker:
    """One Kafka 4.x broker process (KRaft combined mode) listening on ``host``.

    Ports are picked on the first :meth:`start` (unless given) and kept for the broker's life,
    so :meth:`restart` and a :meth:`start` after :meth:`kill` come back on the same address
    with the same data.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        controller_port: int | None = None,
        config: Mapping[str, object] | None = None,
        jvm_options: Sequence[str] = DEFAULT_JVM_OPTIONS,
        startup_timeout: float = 90.0,
        kafka_dir: Path = KAFKA_DIR,
    ) -> None:
        self._owns_data_dir = data_dir is None
        self._data_dir = Path(
            tempfile.mkdtemp(prefix="kafka-broker-") if data_dir is None else data_dir
        ).resolve()
        self._host = host
        self._port = port
        self._controller_port = controller_port
        self._ports_fixed = port is not None or controller_port is not None
        self._config: dict[str, str] = {
            k: _config_value(v) for k, v in DEFAULT_BROKER_CONFIG.items()
        }
        if config:
            self._config.update({k: _config_value(v) for k, v in config.items()})
        self._jvm_options = tuple(jvm_options)
        self._startup_timeout = startup_timeout
        self._kafka_dir = kafka_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._cds_tmp: Path | None = None
        self.startup_seconds: float | None = None
        """Wall-clock seconds the last successful :meth:`start` took (format included)."""

    # ------------------------------------------------------------------ properties

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._port is None:
            raise KafkaBrokerError("the broker has not been started yet: no port chosen")
        return self._port

    @property
    def controller_port(self) -> int:
        if self._controller_port is None:
            raise KafkaBrokerError("the broker has not been started yet: no port chosen")
        return self._controller_port

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"{self._host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        """Holds server.properties, broker.log and the partition data (kafka-logs/)."""
        return self._data_dir

    @property
    def log_path(self) -> Path:
        return self._data_dir / "broker.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the broker and wait until it accepts clients (a topic can be created)."""
        if self.running:
            raise KafkaBrokerError(f"broker already running (pid {self.pid})")
        self._reap(keep_archive=False)
        began = time.monotonic()
        lib = ensure_jars(self._kafka_dir)
        attempts = 1 if self._ports_fixed or self._formatted() else 3
        for attempt in range(1, attempts + 1):
            if self._port is None:
                self._port = find_free_port(self._host)
            if self._controller_port is None:
                self._controller_port = find_free_port(self._host)
                while self._controller_port == self._port:
                    self._controller_port = find_free_port(self._host)
            self._write_config()
            if not self._formatted():
                self._format(lib)
            self._launch(lib)
            try:
                self._wait_until_ready(began + self._startup_timeout)
            except _BindError:
                self.kill()
                if attempt == attempts:
                    raise KafkaBrokerError(
                        f"broker could not bind {self._host}:{self._port}/{self._controller_port}"
                        f"\n--- {self.log_path} (tail) ---\n{self.log_tail()}"
                    ) from None
                # another process took an auto-picked port: start afresh on new ports
                shutil.rmtree(self._data_dir / "kafka-logs", ignore_errors=True)
                self._port = self._controller_port = None
                continue
            except BaseException:
                self.kill()
                raise
            break
        self.startup_seconds = time.monotonic() - began

    def stop(self, timeout: float = 30.0) -> None:
        """Clean shutdown (SIGTERM); SIGKILL if it takes longer than ``timeout`` seconds."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                self._reap(keep_archive=False)
                return
        self._reap(keep_archive=True)

    def kill(self) -> None:
        """Crash the broker: SIGKILL, no shutdown at all."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait()
        self._reap(keep_archive=False)

    def restart(self, timeout: float = 30.0) -> None:
        """Clean stop, then start again on the same ports with the same data dir."""
        self.stop(timeout)
        self.start()

    def close(self) -> None:
        """Stop the broker and remove the data dir if this object created it."""
        self.stop()
        if self._owns_data_dir:
            shutil.rmtree(self._data_dir, ignore_errors=True)

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines the broker wrote in its current (or last) run."""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(self._log_offset)
                text = handle.read().decode(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # ------------------------------------------------------------------ internals

    def _formatted(self) -> bool:
        return (self._data_dir / "kafka-logs" / "meta.properties").is_file()

    def _write_config(self) -> None:
        host, port, cport = self._host, self._port, self._controller_port
        props = {
            "process.roles": "broker,controller",
            "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
            **self._quorum_config(),
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self._data_dir / "kafka-logs"),
            **self._config,
        }
        self._data_dir.mkdir(parents=True, exist_ok=True)
        text = "".join(f"{key}={value}\n" for key, value in props.items())
        (self._data_dir / "server.properties").write_text(text)
        (self._data_dir / "log4j2.properties").write_text(_LOG4J2_BROKER)
        (self._data_dir / "log4j2-tools.properties").write_text(_LOG4J2_TOOLS)

    def _quorum_config(self) -> dict[str, str]:
        """A quorum of this broker alone (a cluster's members name every voter)."""
        host, port, cport = self._host, self._port, self._controller_port
        return {
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{host}:{cport}",
            "advertised.listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
        }

    def _format_options(self) -> list[str]:
        return ["--standalone", "--cluster-id", _random_cluster_id()]

    def _classpath_options(self, lib: Path) -> list[str]:
        return ["-cp", str(lib / "*")]

    def _format(self, lib: Path) -> None:
        command = [
            _find_java(),
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-XX:-UsePerfData",
            "-Xlog:cds*=error",
            f"-Dlog4j2.configurationFile={self._data_dir / 'log4j2-tools.properties'}",
        ]
        archive = lib / _CDS_ARCHIVE
        if archive.is_file():
            command.append(f"-XX:SharedArchiveFile={archive}")
        command += self._classpath_options(lib)
        command += [
            "kafka.tools.StorageTool",
            "format",
            *self._format_options(),
            "--config",
            str(self._data_dir / "server.properties"),
        ]
        result = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=120,
        )
        if result.returncode != 0 or not self._formatted():
            output = result.stdout.decode(errors="replace")
            code = result.returncode
            raise KafkaBrokerError(f"kafka-storage format failed (exit {code}):\n{output}")

    def _launch(self, lib: Path) -> None:
        command = [
            _find_java(),
            *self._jvm_options,
            f"-Dlog4j2.configurationFile={self._data_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self._data_dir}",
        ]
        archive = lib / _CDS_ARCHIVE
        if archive.is_file():
            command.append(f"-XX:SharedArchiveFile={archive}")
        else:
            # the first clean shutdown leaves the archive for every later start
            self._cds_tmp = lib / f"{_CDS_ARCHIVE}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
            command.append(f"-XX:ArchiveClassesAtExit={self._cds_tmp}")
        command += self._classpath_options(lib)
        command += ["kafka.Kafka", str(self._data_dir / "server.properties")]

        with open(self.log_path, "ab") as log:
            log.write(f"==== starting broker: {' '.join(command)}\n".encode())
            log.flush()
            self._log_offset = log.tell()
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self._data_dir,
                start_new_session=True,  # a Ctrl-C meant for the test run must not reach it
            )
        _live_processes.add(self._process)

    def _wait_until_ready(self, deadline: float) -> None:
        assert self._process is not None
        # 1. the broker says so: logged after it is unfenced and its acceptors are running
        with open(self.log_path, "rb") as handle:
            handle.seek(self._log_offset)
            seen = b""
            while True:
                chunk = handle.read()
                if chunk:
                    seen = seen[-4096:] + chunk
                    if STARTED_MARKER.encode() in seen:
                        break
                    if any(marker.encode() in seen for marker in _BIND_ERROR_MARKERS):
                        raise _BindError()
                if self._process.poll() is not None:
                    text = self.log_tail()
                    if any(marker in text for marker in _BIND_ERROR_MARKERS):
                        raise _BindError()
                    raise KafkaBrokerError(
                        f"Kafka broker exited with code {self._process.returncode} during start-up"
                        f"\n--- {self.log_path} (tail) ---\n{text}"
                    )
                if time.monotonic() > deadline:
                    self._timeout("no 'Kafka Server started' line")
                time.sleep(0.02)
        # 2. a client gets through: create (and drop) a topic
        self._probe(deadline)

    def _probe(self, deadline: float) -> None:
        try:
            kafka: Any = importlib.import_module("kafka")
        except ImportError:
            self._probe_tcp(deadline)
            return
        topic = f"readiness-probe-{uuid.uuid4().hex[:12]}"
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            remaining_ms = max(1000, int((deadline - time.monotonic()) * 1000))
            admin: Any = None
            try:
                admin = kafka.KafkaAdminClient(
                    bootstrap_servers=self.bootstrap_servers,
                    client_id="kafka-broker-readiness",
                    bootstrap_timeout_ms=remaining_ms,
                    request_timeout_ms=min(remaining_ms, 15000),
                )
                admin.create_topics(
                    {topic: {"num_partitions": 1, "replication_factor": 1}},
                    wait_for_metadata=True,
                )
                admin.delete_topics([topic])
                return
            except Exception as error:
                last_error = error
                if self._process is None or self._process.poll() is not None:
                    break
                time.sleep(0.2)
            finally:
                if admin is not None:
                    with contextlib.suppress(Exception):
                        admin.close()
        self._timeout(f"a client could not create a topic (last error: {last_error!r})")

    def _probe_tcp(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self._host, self.port), timeout=1.0):
                    return
            except OSError:
                time.sleep(0.1)
        self._timeout("the client port does not accept connections")

    def _timeout(self, what: str) -> None:
        raise KafkaBrokerError(
            f"Kafka broker on {self._host}:{self._port} not ready after "
            f"{self._startup_timeout:g}s: {what}"
            f"\n--- {self.log_path} (tail) ---\n{self.log_tail()}"
        )

    def _reap(self, keep_archive: bool) -> None:
        """Forget a finished process; keep the class-data archive it wrote at a clean exit."""
        if self._process is not None and self._process.poll() is None:
            return
        if self._process is not None:
            _live_processes.discard(self._process)
        self._process = None
        tmp, self._cds_tmp = self._cds_tmp, None
        if tmp is not None:
            try:
                if keep_archive and tmp.stat().st_size > 0:
                    os.replace(tmp, tmp.parent / _CDS_ARCHIVE)
                else:
                    tmp.unlink()
            except FileNotFoundError:
                pass


class _BindError(Exception):
    """The broker could not listen on one of its ports."""


def _config_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

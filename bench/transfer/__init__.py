"""Artifact transfer benchmark: through the registry server vs straight to S3.

Why this exists: registry-held model files do not go from the client to S3
directly. An upload travels client -> gRPC stream -> registry server -> S3
multipart upload (16 MiB parts), and a download without presigned URLs
travels S3 -> server -> gRPC stream -> client. This script measures, in one
run and against one S3 endpoint, what that detour costs compared with the
`minio` client talking to the same endpoint with the same part size, and
whether the server's memory stays flat (bounded by the parts in flight, not
by the file size).

Phases, in order, each on the same generated file of random bytes:

  direct upload       minio fput_object (16 MiB parts)             the baseline for uploads
  direct download     minio fget_object                            the baseline for downloads
  registry upload     RegistryClient.log_model_version             gRPC stream + server -> S3
  registry download   download_artifacts(prefer_presigned=False)  S3 -> server -> gRPC stream
  stream only         DownloadArtifact, chunks discarded          the same, without file or sha256
  presigned download  download_artifacts(prefer_presigned=True)   client GETs S3 itself

A 256 MiB download takes a quarter of a second, and moto's pace varies from
one upload to the next, so one measurement says little: every phase runs
`--rounds` times (default 5), alternating (the uploads, direct then through
the registry, then the downloads: direct, registry, stream only, presigned,
and again), and the table shows each phase's median. "stream only" is not something a user
runs; it separates what the transport costs from what the client's file
write and sha256 check cost.

With everything on loopback, every phase is bound by CPU: S3, server and
client share the machine's cores. So each phase also gets a ceiling: the
ratio to the direct baseline it would reach if all cores were busy with it
the whole time (its CPU seconds over all processes, divided by the number of
cores, is the least wall time it can take). A phase whose ceiling is below a
target cannot meet that target on this machine, however it is scheduled.

Every downloaded file is checked against the sha256 of the source (outside the
timed section). While a phase runs, a thread samples VmRSS of the server (and
of this process and a local S3 server) every 50 ms; the table shows the peak
of each phase. VmHWM (the kernel's own, monotonic, high-water mark) is read
after every phase and kept in the JSON output. Each phase also records the CPU
seconds of this process, the server and a local S3 server, and the CPU time
all other processes used meanwhile ("other CPU s"): with everything on
loopback the phases are CPU-bound, so anything else running skews them, and
that column says so.

The S3 endpoint is $REGISTRY_BENCH_S3_ENDPOINT (http://host:port, with
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) when set, else moto's standalone
server started here on a free loopback port. moto keeps objects in memory:
a 1 GiB run peaks at about 4.7 GiB there. The registry server runs as a
separate process (`python -m registry_server.cli serve`) on a free loopback
port, on a SQLite file in the temporary folder, or, when
$REGISTRY_BENCH_DATABASE_URL names a PostgreSQL database, on a throwaway
database created beside it (upgraded with `registry-server db upgrade` first,
dropped at the end). The temporary folder (twice the file size at peak), the
processes started here and the objects written are removed on exit, Ctrl-C and
SIGTERM included; the bucket (default registry-bench) is created if missing
and left in place.

    .venv/bin/python bench/artifact_transfer.py --size-mib 1024 --json bench.json

MB/s is 10^6 bytes per second; sizes are MiB (2^20 bytes).

The package: servers.py starts S3 and the registry server, phases.py moves the file,
measure.py samples memory and CPU while a phase runs, stats.py turns runs into rows and
ceilings, report.py prints them, cli.py holds the flags and the order of a run.
"""

"""The printed report: a line on the setup, one table row per phase, a line on the server's
memory and on what hashing the file costs."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from .stats import Phase


def print_table(phases: list[Phase], out: TextIO = sys.stdout) -> None:
    header = (
        f"{'phase':<20} {'MiB':>6} {'seconds':>8} {'MB/s':>8} {'vs direct':>9} {'ceiling':>7} "
        f"{'server peak RSS MiB':>19} {'bench peak RSS MiB':>18} "
        f"{'CPU s bench/server/s3':>21} {'other CPU s':>11}  note"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for p in phases:
        ratio = f"{p.ratio_vs_direct:.2f}x" if p.ratio_vs_direct is not None else "-"
        ceiling = f"{p.ceiling_vs_direct:.2f}x" if p.ceiling_vs_direct is not None else "-"
        server = p.rss_peak_mib.get("server")
        bench = p.rss_peak_mib.get("bench")
        cpu = "/".join(
            "-" if p.cpu_seconds.get(n) is None else f"{p.cpu_seconds[n]:.2f}"
            for n in ("bench", "server", "s3")
        )
        print(
            f"{p.name:<20} {p.mib:>6.0f} {p.seconds:>8.2f} {p.mb_per_s:>8.1f} {ratio:>9} "
            f"{ceiling:>7} "
            f"{server if server is not None else '-':>19} "
            f"{bench if bench is not None else '-':>18} {cpu:>21} "
            f"{p.other_cpu_seconds if p.other_cpu_seconds is not None else '-':>11}  {p.note}",
            file=out,
        )


def print_report(result: dict[str, Any]) -> None:
    """The whole report, from the result that also goes to `--json`."""
    print(
        f"\n{result['size_mib']} MiB file, {result['machine']['cpus']} CPUs, S3: "
        f"{'moto (in memory, loopback)' if result['s3']['moto'] else result['s3']['endpoint']}, "
        f"metadata: {result['database']}; MB/s = 10^6 bytes/s; 1-min load average "
        f"{result['machine']['loadavg_1m_before']} before, "
        f"{result['machine']['loadavg_1m_after']} after"
    )
    print_table([Phase(**p) for p in result["phases"]])
    print(
        f"server RSS at start {result['server_rss_start_mib']} MiB, "
        f"VmHWM at the end {result['server_vmhwm_final_mib']} MiB; "
        f"sha256 of the whole file in one thread: {result['sha256_seconds']:.2f} s, "
        f"in two threads at once: {result.get('sha256_two_threads_seconds', 0):.2f} s "
        "(the registry client pays it on upload and download, fget_object does not)"
    )
    first_byte = result.get("s3_first_byte_seconds")
    direct = next((p for p in result["phases"] if p["name"] == "direct download"), None)
    if first_byte is not None and direct is not None:
        least = first_byte + result["sha256_seconds"]
        print(
            f"S3's first byte after {first_byte:.3f} s: a download that checks sha256 as it "
            f"receives takes at least {least:.3f} s (first byte + sha256), "
            f"{direct['seconds'] / least:.2f}x of the direct download at best"
        )

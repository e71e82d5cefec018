#!/usr/bin/env python3
"""Prints CPU time used so far, in clock ticks, as one JSON object: the whole
machine (total, and busy: not idle or iowait), the server process, all
`postgres` processes and all `wrk` processes. bench/run.sh takes one
snapshot before each wrk run and one just before it ends; report.py turns
the differences into shares of the machine.

usage: cpu.py SERVER_PID
"""

import json
import os
import sys


def ticks(pid):
    """utime + stime of a process, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return 0, ""
    comm = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12]), comm


def main():
    server = int(sys.argv[1])
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    busy = sum(cpu) - cpu[3] - cpu[4]  # all but idle and iowait
    postgres = wrk = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            used, comm = ticks(entry)
            if comm == "postgres":
                postgres += used
            elif comm == "wrk":
                wrk += used
    print(json.dumps({
        "hz": os.sysconf("SC_CLK_TCK"),
        "cores": os.cpu_count(),
        "total": sum(cpu),
        "busy": busy,
        "server": ticks(server)[0],
        "postgres": postgres,
        "wrk": wrk,
    }))


if __name__ == "__main__":
    main()

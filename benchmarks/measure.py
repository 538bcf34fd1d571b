"""Code shared by the benchmark scripts' child processes."""

PEAK_KIB = """
def peak_kib():
    # VmHWM: this process's own peak RSS (ru_maxrss would carry the parent's over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1])
"""

"""py-spy (PyPI) sampling of the web server or the workers while a scenario runs:
`--profile DIR` writes collapsed stacks and a summary of where the time went."""
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path


class Profiler:
    def __init__(self, directory, name, pids):
        self.directory, self.name = Path(directory), name
        self.directory.mkdir(parents=True, exist_ok=True)
        self.processes = []
        # The venv's bin is not on PATH when the harness runs as .venv/bin/python.
        binary = (shutil.which("py-spy")
                  or shutil.which("py-spy", path=str(Path(sys.executable).parent)))
        if binary is None:
            print("profile: py-spy is not installed (pip install py-spy); skipped")
            return
        for pid in pids:
            out = self.directory / f"{name}-{pid}.txt"
            self.processes.append((out, subprocess.Popen(
                [binary, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
                 "--nonblocking", "-o", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))

    def stop(self):
        for _out, process in self.processes:
            process.send_signal(signal.SIGINT)
        for _out, process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        return summarize(self.directory, self.name, [out for out, _p in self.processes])


def summarize(directory, name, files, top=25):
    own, inclusive, total = Counter(), Counter(), 0
    for path in files:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _sep, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            frames = [f for f in stack.split(";") if f and not f.startswith("process ")
                      and not f.startswith("thread ")]
            if not frames:
                continue
            total += n
            own[_short(frames[-1])] += n
            for frame in {_short(f) for f in frames}:
                inclusive[frame] += n
    lines = [f"{name}: {total} samples"]
    lines.append("  self time:")
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)] if total else []
    lines.append("  inclusive (console and bench code, libraries' entry points):")
    picked = [(f, n) for f, n in inclusive.most_common(400)
              if any(k in f for k in ("integration/", "pushconfig/", "bench/", "rest_framework",
                                       "django/db", "requests/", "psycopg", "kombu", "json"))]
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in picked[:top]] if total else []
    text = "\n".join(lines)
    (Path(directory) / f"{name}-summary.txt").write_text(text + "\n")
    return text


def _short(frame):
    # "function (path/to/file.py:123)" -> "function (file path from the package:line)"
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in frame:
            head, _sep, tail = frame.partition("(")
            return head + "(" + tail.split(marker, 1)[-1]
    return frame

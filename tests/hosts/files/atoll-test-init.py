#!/usr/bin/python3
"""PID 1 of a test host (runs chrooted in the host's namespaces; see tests/hosts/harness.py).

Prints ``ready`` once, then reaps every child and orphan forever. SIGTERM or SIGINT ends it,
and with it the host's pid namespace (the kernel kills every process inside).
"""

import os
import signal
import sys
import time


def _stop(signum: int, frame: object) -> None:
    os._exit(0)


signal.signal(signal.SIGTERM, _stop)
signal.signal(signal.SIGINT, _stop)
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        time.sleep(0.2)
    except InterruptedError:
        pass

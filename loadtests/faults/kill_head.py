"""python -m loadtests.faults.kill_head: the same as python -m loadtests.faults --fault head."""
import sys

from loadtests.faults.run import main

if __name__ == "__main__":
    sys.exit(main(fault="head"))

"""python -m loadtests.faults.kill_node: the same as python -m loadtests.faults --fault node."""
import sys

from loadtests.faults.run import main

if __name__ == "__main__":
    sys.exit(main(fault="node"))

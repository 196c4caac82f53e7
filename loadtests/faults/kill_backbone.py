"""python -m loadtests.faults.kill_backbone: the same as python -m loadtests.faults --fault backbone."""
import sys

from loadtests.faults.run import main

if __name__ == "__main__":
    sys.exit(main(fault="backbone"))

"""python -m loadtests.faults --fault head|backbone|node [--rate 8 --duration 60 --kill-at 15]"""
import sys

from loadtests.faults.run import main

sys.exit(main())

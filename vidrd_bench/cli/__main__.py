"""`python -m vidrd_bench.cli` (torchrun -m) runs the command line."""

from vidrd_bench.cli import main

main()

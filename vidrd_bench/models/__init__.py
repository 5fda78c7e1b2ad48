"""Networks this project implements itself (e.g. VidRD); adapters to them live in vidrd_bench.generators."""

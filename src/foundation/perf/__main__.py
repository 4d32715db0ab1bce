"""`python -m foundation.perf ...` runs the `perf` verb group alone (same commands as `foundation perf`)."""

from foundation.cli.perf import app

if __name__ == "__main__":
    app()

"""Benchmark runner: ``python bench/run.py NAME [--quick] [--json]``.

Each benchmark lives in ``bench/bench_NAME.py`` and exposes ``run(quick: bool) -> dict``
returning raw figures and a ``ratio`` against the bare library doing the same work in the
same run (absolute times drift on shared machines; ratios do not).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", choices=_available())
    parser.add_argument("--quick", action="store_true", help="smaller workload (CI-sized)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location(
        f"bench_{args.name}", HERE / f"bench_{args.name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.run(quick=args.quick)
    result = {"benchmark": args.name, "quick": args.quick, **result}
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

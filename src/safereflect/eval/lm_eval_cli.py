"""lm-eval's own command line, with the `safereflect` model registered (eval/harness.py).

lm-eval has no plugin discovery for models defined outside its package, so `lm_eval --model
safereflect` cannot find ours; this is the same CLI after the import that registers it:

    python -m safereflect.eval.lm_eval_cli run --model safereflect --model_args pretrained=DIR --tasks ...

(`safereflect-lm-eval` is the installed script for it.) Every other option is lm-eval's.
"""

from __future__ import annotations

import sys


def main() -> None:
    from lm_eval.__main__ import cli_evaluate

    from safereflect.errors import UserError
    from safereflect.eval import harness  # noqa: F401  (registers the model)

    try:
        cli_evaluate()
    except UserError as err:  # a bad path or model_arg: one line, as the safereflect CLI prints it
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None


if __name__ == "__main__":
    main()

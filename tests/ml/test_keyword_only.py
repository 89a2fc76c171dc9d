"""Every public function or method of `ml` takes at most two positional parameters.

The one or two things it acts on come by position; settings, paths to write to, callbacks, seeds
and sizes come by keyword, so each call site reads like the function's contract and there is no
argument order to get wrong. The `run(options, log)` and `add_arguments(parser)` of `ml/cli/`
are a uniform command interface and are left out.
"""

import ast
from pathlib import Path

ML = Path(__file__).resolve().parents[2] / "ml"
MAX_POSITIONAL = 2
CLI_INTERFACE = {"run", "add_arguments"}


def _public_functions(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.name, node, False
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
                    static = any(
                        isinstance(d, ast.Name) and d.id == "staticmethod"
                        for d in sub.decorator_list
                    )
                    yield f"{node.name}.{sub.name}", sub, not static


def test_public_functions_take_at_most_two_positional_parameters() -> None:
    offenders = []
    for path in sorted(ML.rglob("*.py")):
        is_cli = path.parent.name == "cli"
        for name, func, bound in _public_functions(ast.parse(path.read_text())):
            if func.name.startswith("_") or (is_cli and name in CLI_INTERFACE):
                continue
            positional = [a.arg for a in func.args.posonlyargs + func.args.args][int(bound) :]
            if len(positional) > MAX_POSITIONAL:
                where = path.relative_to(ML.parent)
                offenders.append(f"{where}:{func.lineno} {name}({', '.join(positional)})")
    assert not offenders, "more than two positional parameters (add `*,`):\n" + "\n".join(offenders)

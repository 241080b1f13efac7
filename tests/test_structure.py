"""The switchboard's shape, checked on its source: database work never runs on the event loop."""
from __future__ import annotations

import ast
from pathlib import Path

HANDOFF = Path(__file__).resolve().parent.parent / "handoff"


def _session_calls_on_the_loop(tree: ast.AST) -> list[tuple[str, int]]:
    """Calls of .sessions() written directly in an async function (not in a function it hands to a thread)."""
    found = []

    def visit(node: ast.AST, in_async: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.AsyncFunctionDef):
                visit(child, child.name)
            elif isinstance(child, (ast.FunctionDef, ast.Lambda)):
                visit(child, None)
            else:
                if (in_async and isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                        and child.func.attr == "sessions"):
                    found.append((in_async, child.lineno))
                visit(child, in_async)

    visit(tree, None)
    return found


def test_no_async_function_opens_a_database_session_on_the_event_loop():
    offenders = []
    for path in sorted(HANDOFF.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [f"{path.relative_to(HANDOFF)}:{line} in {name}" for name, line in _session_calls_on_the_loop(tree)]
    assert offenders == [], "use Switchboard.run or Switchboard.read instead: " + ", ".join(offenders)


def test_the_check_finds_a_session_opened_on_the_event_loop():
    code = "async def f(svc):\n    with svc.sessions() as s:\n        pass\n\nasync def g(svc):\n    await svc.read(lambda s: 1)\n"
    assert _session_calls_on_the_loop(ast.parse(code)) == [("f", 2)]
